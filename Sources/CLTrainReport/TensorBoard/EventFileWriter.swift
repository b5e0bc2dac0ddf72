import CLTrainIO
import Foundation

/// An events file that could not be created or written (a full disk, a folder taken away).
public struct TensorBoardError: Error, CustomStringConvertible, Equatable, FileWriteFailure {
    public let path: String
    /// What the system said (strerror).
    public let reason: String
    public let creating: Bool

    /// A failed append is a write failure a run may retry; a file that cannot be created is not.
    public var failedWritePath: String? { creating ? nil : path }

    public var description: String {
        creating
            ? oneLine("cannot create the TensorBoard events file \(path): \(reason); choose another --out")
            : oneLine("cannot write the TensorBoard events file \(path): \(reason); free some space or choose another --out")
    }
}

/// One TensorBoard events file (`events.out.tfevents.<seconds>.<host>`), created new and appended
/// record by record. Each record goes to the file in one `write` with no buffer of ours in
/// between, so a process killed at any moment leaves every record it finished, readable. A write
/// that fails (a full disk) is cut back off the file, so the file stays a whole sequence of
/// records, and its record is kept to go first at the next write.
public final class EventFileWriter {
    public let url: URL
    private var descriptor: Int32
    /// The file's length after its last whole record.
    private var length: off_t = 0
    /// Records not yet in the file (a write failed), oldest first.
    private var unwritten: [[UInt8]] = []
    /// At most this many records wait for a disk with space again; older ones are dropped.
    static let maxUnwritten = 10_000

    /// A new events file in `directory` (never an existing one: a second writer in the same second
    /// gets a numbered name), starting with the file-version record.
    public convenience init(directory: URL, wallTime: Double = Date().timeIntervalSince1970) throws {
        let base = "events.out.tfevents.\(Int(wallTime)).\(Self.hostName())"
        var url = directory.appendingPathComponent(base)
        var descriptor = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        var attempt = 1
        while descriptor < 0 && errno == EEXIST && attempt < 1000 {
            url = directory.appendingPathComponent("\(base).\(attempt)")
            descriptor = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            attempt += 1
        }
        guard descriptor >= 0 else {
            throw TensorBoardError(path: url.path, reason: String(cString: strerror(errno)), creating: true)
        }
        try self.init(url: url, descriptor: descriptor, wallTime: wallTime)
    }

    /// Appends to the file at `url`, which must exist (tests pass /dev/full).
    convenience init(appendingTo url: URL, wallTime: Double) throws {
        let descriptor = open(url.path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw TensorBoardError(path: url.path, reason: String(cString: strerror(errno)), creating: true)
        }
        try self.init(url: url, descriptor: descriptor, wallTime: wallTime)
    }

    private init(url: URL, descriptor: Int32, wallTime: Double) throws {
        self.url = url
        self.descriptor = descriptor
        length = lseek(descriptor, 0, SEEK_END)
        try write(TensorBoardEvent.fileVersion(wallTime: wallTime))
    }

    deinit { close() }

    /// Appends one event (a serialized `Event` message) as one record, after any records an
    /// earlier failed write left waiting.
    public func write(_ event: [UInt8]) throws {
        unwritten.append(RecordFraming.frame(event))
        if unwritten.count > Self.maxUnwritten { unwritten.removeFirst(unwritten.count - Self.maxUnwritten) }
        while let record = unwritten.first {
            try append(record)
            unwritten.removeFirst()
        }
    }

    /// Records waiting for a write to succeed.
    public var waitingRecords: Int { unwritten.count }

    private func append(_ record: [UInt8]) throws {
        try record.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    let code = errno
                    if code == EINTR { continue }
                    // Cut a partial record off, so the records after it are read.
                    if offset > 0 { _ = ftruncate(descriptor, length) }
                    var reason = String(cString: strerror(code))
                    if code == ENOSPC || code == EDQUOT || code == EIO { reason += ", \(FreeSpace.describe(at: url.path))" }
                    throw TensorBoardError(path: url.path, reason: reason, creating: false)
                }
                offset += written
            }
        }
        length += off_t(record.count)
    }

    public func close() {
        if descriptor >= 0 { Foundation.close(descriptor) }
        descriptor = -1
    }

    /// The machine's name as file names can hold it.
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(cString: buffer).map { $0 == "/" ? "_" : $0 }
        return name.isEmpty ? "localhost" : String(name)
    }
}
