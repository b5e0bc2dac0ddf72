/// The few protobuf messages of a TensorBoard event file, encoded by hand (fields of
/// tensorflow/core/util/event.proto and summary.proto):
///
///     Event      { double wall_time = 1; int64 step = 2; string file_version = 3;
///                  Summary summary = 5; SessionLog session_log = 7; }
///     Summary    { repeated Value value = 1; }
///     Value      { string tag = 1; float simple_value = 2; }
///     SessionLog { SessionStatus status = 1; }   // START = 1
public enum TensorBoardEvent {
    /// The first record of every file: which format the rest is in.
    public static func fileVersion(wallTime: Double) -> [UInt8] {
        var event = header(wallTime: wallTime, step: 0)
        event.string(3, "brain.Event:2")
        return event.bytes
    }

    /// Scalars (tag, value) at `step`.
    public static func scalars(_ values: [(tag: String, value: Float)], step: Int, wallTime: Double) -> [UInt8] {
        var summary = ProtobufWriter()
        for (tag, value) in values {
            var entry = ProtobufWriter()
            entry.string(1, tag)
            entry.float(2, value)
            summary.message(1, entry)
        }
        var event = header(wallTime: wallTime, step: step)
        event.message(5, summary)
        return event.bytes
    }

    /// A session starting at `step`: TensorBoard drops whatever earlier files logged at `step` or
    /// later (what a killed run wrote after the checkpoint a resumed run starts from).
    public static func sessionStart(step: Int, wallTime: Double) -> [UInt8] {
        var status = ProtobufWriter()
        status.varint(1, 1)
        var event = header(wallTime: wallTime, step: step)
        event.message(7, status)
        return event.bytes
    }

    static func header(wallTime: Double, step: Int) -> ProtobufWriter {
        var event = ProtobufWriter()
        event.double(1, wallTime)
        // Left out at 0, as protobuf's own encoders do (a reader takes a missing field as 0).
        if step != 0 { event.varint(2, UInt64(bitPattern: Int64(step))) }
        return event
    }
}

/// Protobuf's wire format for the field kinds events use: varints (wire type 0), 64-bit (1),
/// length-delimited (2) and 32-bit (5) fields, each after its key (field number << 3 | wire type).
public struct ProtobufWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func varint(_ field: Int, _ value: UInt64) {
        key(field, wireType: 0)
        appendVarint(value)
    }

    public mutating func double(_ field: Int, _ value: Double) {
        key(field, wireType: 1)
        bytes += RecordFraming.littleEndian(value.bitPattern)
    }

    public mutating func float(_ field: Int, _ value: Float) {
        key(field, wireType: 5)
        bytes += RecordFraming.littleEndian(value.bitPattern)
    }

    public mutating func lengthDelimited(_ field: Int, _ data: [UInt8]) {
        key(field, wireType: 2)
        appendVarint(UInt64(data.count))
        bytes += data
    }

    public mutating func string(_ field: Int, _ text: String) { lengthDelimited(field, Array(text.utf8)) }

    public mutating func message(_ field: Int, _ message: ProtobufWriter) { lengthDelimited(field, message.bytes) }

    mutating func key(_ field: Int, wireType: UInt64) { appendVarint(UInt64(field) << 3 | wireType) }

    /// Seven bits at a time, least significant first; the high bit says more follow.
    mutating func appendVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }
}
