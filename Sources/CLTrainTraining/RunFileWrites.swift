import CLTrainIO
import Foundation
import Logging

/// What a run does when a file it keeps cannot be written (`--on-write-error`).
public enum WriteErrorPolicy: String, CaseIterable, Codable, Sendable {
    /// Stop the run, naming the file, the free space and how to resume (the default).
    case stop
    /// Warn, go on training, and write the file again at the next checkpoint.
    case `continue`
}

/// A run stopped because a file it keeps could not be written; the file on disk is the previous
/// one, whole, and the last checkpoint written is there to resume from.
public struct RunWriteFailed: Error, CustomStringConvertible {
    /// The write's own one-line error (it names the file, the reason and the free space).
    public let failure: String
    public let step: Int
    public let folder: String

    public var description: String {
        "\(failure) The run stopped at step \(step); free some space, then resume with: cltrain train --resume \(folder)"
    }
}

/// The files a run keeps up to date, written under its `WriteErrorPolicy`. Each write has a key
/// (the file's path); with `.continue`, a write that fails is kept and tried again by
/// `retryPending` (at each checkpoint), a newer write of the same key replacing it.
final class RunFileWrites {
    let policy: WriteErrorPolicy
    let logger: Logger
    /// Makes the error that stops the run, from a write's one-line error.
    let stop: (String) -> RunWriteFailed
    private var pending: [(key: String, write: () throws -> Void, error: String)] = []
    /// Keys already warned about and not written since.
    private var warned: Set<String> = []

    init(policy: WriteErrorPolicy, logger: Logger, stop: @escaping (String) -> RunWriteFailed) {
        self.policy = policy
        self.logger = logger
        self.stop = stop
    }

    /// Write now; a failure either stops the run or is kept to retry (see the policy).
    func write(_ key: String, _ body: @escaping () throws -> Void) throws {
        pending.removeAll { $0.key == key }
        do {
            try body()
            if warned.remove(key) != nil { logger.notice("wrote \(key) again") }
        } catch let error as FileWriteFailure where error.failedWritePath != nil {
            try failed(key, error, retry: body)
        }
    }

    /// A write that failed elsewhere (a TensorBoard record, which its writer keeps and sends
    /// again itself: nothing to retry here).
    func failed(_ key: String, _ error: FileWriteFailure, retry: (() throws -> Void)? = nil) throws {
        let line = error.description
        switch policy {
        case .stop:
            throw stop(line)
        case .continue:
            if warned.insert(key).inserted {
                logger.warning("\(line) The run goes on (--on-write-error continue) and writes it again at the next checkpoint.")
            }
            if let retry { pending.append((key, retry, line)) }
        }
    }

    /// Try every failed write again.
    func retryPending() throws {
        for write in pending { try self.write(write.key, write.write) }
    }

    /// At the end of a run: what still cannot be written stops it (a run does not end "done"
    /// with a file missing), whatever the policy.
    func finish() throws {
        try retryPending()
        if let first = pending.first { throw stop(first.error) }
    }
}
