import Foundation

/// The protocol-buffer wire format, written by hand for the few messages cltrain exports
/// (ONNX): varints, 32-bit floats and length-delimited fields. Fields are appended in the order
/// they are written; callers write them in field-number order, as protobuf's own serializers
/// do, so the bytes equal theirs.
public struct ProtobufWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// Wire types (the low three bits of a field's key).
    enum WireType: UInt64 {
        case varint = 0
        case fixed32 = 5
        case lengthDelimited = 2
    }

    /// An unsigned varint: seven bits per byte, least significant first, the high bit set on
    /// every byte but the last.
    public mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func appendKey(_ field: Int, _ wireType: WireType) {
        precondition(field > 0, "protobuf field numbers start at 1")
        appendVarint(UInt64(field) << 3 | wireType.rawValue)
    }

    /// An int64 or int32 field (a negative value takes ten bytes, as protobuf writes it).
    public mutating func int(_ field: Int, _ value: Int64) {
        appendKey(field, .varint)
        appendVarint(UInt64(bitPattern: value))
    }

    public mutating func int(_ field: Int, _ value: Int) { int(field, Int64(value)) }

    /// A `float` field: four little-endian bytes.
    public mutating func float(_ field: Int, _ value: Float) {
        appendKey(field, .fixed32)
        let bits = value.bitPattern
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt32(shift))) }
    }

    /// A `string` field (UTF-8).
    public mutating func string(_ field: Int, _ value: String) {
        self.bytes(field, Array(value.utf8))
    }

    /// A `bytes` field.
    public mutating func bytes(_ field: Int, _ value: [UInt8]) {
        appendKey(field, .lengthDelimited)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// A `bytes` field of float32 values, little-endian (ONNX's `raw_data`).
    public mutating func floatBytes(_ field: Int, _ values: [Float]) {
        appendKey(field, .lengthDelimited)
        appendVarint(UInt64(values.count * 4))
        bytes.reserveCapacity(bytes.count + values.count * 4)
        for value in values {
            let bits = value.bitPattern.littleEndian
            withUnsafeBytes(of: bits) { bytes.append(contentsOf: $0) }
        }
    }

    /// An embedded message, written by `body` into a writer of its own.
    public mutating func message(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        body(&inner)
        bytes(field, inner.bytes)
    }
}
