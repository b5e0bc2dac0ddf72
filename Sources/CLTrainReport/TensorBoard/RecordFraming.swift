/// TensorFlow's record framing (TFRecord), the container of TensorBoard event files: each record is
/// its length as a little-endian UInt64, the masked CRC-32C of those 8 bytes, the data, and the
/// masked CRC-32C of the data. A reader stops at a record cut short, so a file that a kill
/// interrupts mid-record keeps every record before it.
public enum RecordFraming {
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var record: [UInt8] = []
        record.reserveCapacity(data.count + 16)
        let length = littleEndian(UInt64(data.count))
        record += length
        record += littleEndian(CRC32C.masked(CRC32C.checksum(length)))
        record += data
        record += littleEndian(CRC32C.masked(CRC32C.checksum(data)))
        return record
    }

    static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<T.bitWidth / 8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}
