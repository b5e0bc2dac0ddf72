import Dispatch
import Foundation

/// Turns SIGINT (Ctrl-C) and SIGTERM into a request the training loop polls after each step, so
/// the run finishes its step, writes a checkpoint and exits 130 or 143. Owned by the command
/// that installs it; a second Ctrl-C while stopping is ignored.
final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var received: Int32?
    private var sources: [DispatchSourceSignal] = []

    init() {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.receive(number) }
            source.resume()
            sources.append(source)
        }
    }

    deinit {
        sources.forEach { $0.cancel() }
    }

    private func receive(_ number: Int32) {
        lock.lock()
        if received == nil {
            received = number
            FileHandle.standardError.write(Data("\nstopping after this step: writing a checkpoint...\n".utf8))
        }
        lock.unlock()
    }

    /// The signal received, if any.
    var receivedSignal: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    /// The exit status for the signal received: 128 + its number (130 for SIGINT, 143 for SIGTERM).
    var exitStatus: Int32 { 128 + (receivedSignal ?? SIGINT) }
}
