import Foundation

/// A checksum that a safetensors file carries in its own metadata, so that a damaged file (cut
/// short, a flipped bit) is told apart from a good one before its contents are trusted: CRC-32 of
/// the data section followed by every other metadata entry (key, NUL, value, NUL in key order).
/// Files written without one (by PyTorch, or by cltrain before checksums) have no such entry.
public enum SafetensorsChecksum {
    public static let key = "cltrain.checksum"

    /// The entry's value ("crc32:0a1b2c3d") for these data bytes, in file order, and metadata.
    static func value(dataSection pieces: [[UInt8]], metadata: [String: String]) -> String {
        var crc = CRC32()
        for piece in pieces { crc.update(piece) }
        add(metadata, to: &crc)
        return format(crc.value)
    }

    /// True when `file` carries a checksum and it matches, false when it does not match, nil
    /// when the file has none.
    public static func verify(_ file: SafetensorsFile) -> Bool? {
        guard let stored = file.metadata[key] else { return nil }
        var crc = CRC32()
        for name in file.tensorNames { crc.update(file.tensors[name]!.data) }
        add(file.metadata, to: &crc)
        return stored == format(crc.value)
    }

    private static func add(_ metadata: [String: String], to crc: inout CRC32) {
        for name in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) where name != key {
            crc.update(Array(name.utf8) + [0] + Array(metadata[name]!.utf8) + [0])
        }
    }

    private static func format(_ value: UInt32) -> String {
        let hex = String(value, radix: 16)
        return "crc32:" + String(repeating: "0", count: 8 - hex.count) + hex
    }
}
