/// CRC-32C (Castagnoli): the checksum of TensorFlow's record framing. Reflected polynomial
/// 0x82F63B78, initial value and final XOR 0xFFFFFFFF; crc32c("123456789") = 0xE3069283.
public enum CRC32C {
    /// One entry per byte value: the remainder of that byte shifted through the polynomial.
    static let table: [UInt32] = (0..<256).map { byte in
        var crc = UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return ~crc
    }

    /// The checksum as records store it: rotated right by 15 bits plus a constant, so that a CRC
    /// computed over bytes that themselves hold CRCs stays well distributed.
    public static func masked(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}
