import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One line of progress for a terminal, fitted to a width:
///
///     epoch 3/10 [=========>          ] 45% 1234/2813 loss 0.4123 acc 86.2% 812 img/s ETA 0:42
///
/// When the width is short, fields are dropped from the right first, then the count, then the
/// bar shrinks (to 10 cells) and goes; the prefix, percentage and ETA go last (hard truncation).
public struct ProgressBar: Sendable {
    /// Text before the bar, e.g. `epoch 3/10`.
    public var prefix: String
    /// Columns the line may use.
    public var width: Int
    /// The bar's inner cells are at most this many.
    public var maxBarCells: Int

    public static let minBarCells = 10

    public init(prefix: String = "", width: Int = 80, maxBarCells: Int = 40) {
        self.prefix = prefix
        self.width = width
        self.maxBarCells = maxBarCells
    }

    /// The line for `done` of `total` items after `elapsed` seconds; `fields` are shown between
    /// the count and the ETA (see `trainingFields`). Once `done >= total` the ETA becomes the time taken.
    public func render(done: Int, total: Int, elapsed: Double, fields: [String] = []) -> String {
        let width = max(0, self.width)
        let fraction = total > 0 ? min(1, max(0, Double(done) / Double(total))) : 0
        let percent = "\(Int((fraction * 100).rounded(.down)))%"
        let count = "\(done)/\(total)"
        let timing: String
        if total > 0, done >= total {
            timing = "took " + Self.formatDuration(elapsed)
        } else if done > 0, elapsed > 0 {
            timing = "ETA " + Self.formatDuration(elapsed / Double(done) * Double(total - done))
        } else {
            timing = "ETA --:--"
        }

        var fields = fields.filter { !$0.isEmpty }
        var showCount = true
        func line(barCells: Int?) -> String {
            var parts: [String] = []
            if !prefix.isEmpty { parts.append(prefix) }
            if let cells = barCells { parts.append(Self.bar(fraction, cells: cells)) }
            parts.append(percent)
            if showCount { parts.append(count) }
            parts += fields
            parts.append(timing)
            return parts.joined(separator: " ")
        }
        // Everything but the bar's inner cells must fit beside at least `minBarCells` of them.
        func fixedWidth() -> Int { line(barCells: 0).count }
        while fixedWidth() + Self.minBarCells > width, !fields.isEmpty { fields.removeLast() }
        if fixedWidth() + Self.minBarCells > width { showCount = false }
        if fixedWidth() + Self.minBarCells <= width {
            let cells = min(max(maxBarCells, Self.minBarCells), width - fixedWidth())
            return line(barCells: cells)
        }
        return String(line(barCells: nil).prefix(width))
    }

    /// `[=====>    ]` with `cells` inner cells.
    static func bar(_ fraction: Double, cells: Int) -> String {
        guard cells > 0 else { return "[]" }
        let filled = Int((fraction * Double(cells)).rounded(.down))
        if filled >= cells { return "[" + String(repeating: "=", count: cells) + "]" }
        let head = filled > 0 ? String(repeating: "=", count: filled - 1) + ">" : ""
        return "[" + head + String(repeating: " ", count: cells - max(filled, 0)) + "]"
    }

    /// The usual fields of a training step: `loss 0.4123`, `acc 86.2%` (accuracy a fraction), `812 img/s`.
    public static func trainingFields(loss: Double, accuracy: Double? = nil, imagesPerSecond: Double? = nil) -> [String] {
        var fields = [String(format: "loss %.4f", loss)]
        if let accuracy { fields.append(String(format: "acc %.1f%%", accuracy * 100)) }
        if let rate = imagesPerSecond, rate.isFinite { fields.append(String(format: "%.0f img/s", rate)) }
        return fields
    }

    /// `4:05` below an hour, `1:02:03` from an hour on; `--:--` for negative or non-finite input.
    public static func formatDuration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < Double(Int.max / 2) else { return "--:--" }
        let total = Int(seconds.rounded())
        let h = total / 3600, m = (total % 3600) / 60, s = total % 60
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return h > 0 ? "\(h):\(two(m)):\(two(s))" : "\(m):\(two(s))"
    }

    /// Whether `fd` is a terminal (progress bars only go to terminals).
    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// The terminal's columns: from the terminal itself, else `$COLUMNS`, else `fallback`.
    public static func terminalWidth(_ fd: Int32, fallback: Int = 80) -> Int {
        #if canImport(Glibc) || canImport(Musl) || canImport(Darwin)
        var size = winsize()
        if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        #endif
        if let text = ProcessInfo.processInfo.environment["COLUMNS"], let columns = Int(text), columns > 0 {
            return columns
        }
        return fallback
    }
}

/// Writes a `ProgressBar` line in place (`\r` + line) to a file handle, usually stderr, at most
/// once per `minInterval` seconds; the final state (`done >= total`) is always written.
/// Not thread-safe: call from the training loop only.
public final class ProgressPrinter {
    public var bar: ProgressBar
    public let minInterval: Double
    private let handle: FileHandle
    private let clock: () -> Double
    private var lastWrite: Double?
    private var lastLength = 0
    private var pending: String?
    private var wroteAnything = false

    /// `clock` returns seconds from any fixed origin (monotonic by default; tests inject their own).
    public init(handle: FileHandle = .standardError, bar: ProgressBar, minInterval: Double = 0.1,
                clock: @escaping () -> Double = { ProcessInfo.processInfo.systemUptime }) {
        self.handle = handle
        self.bar = bar
        self.minInterval = minInterval
        self.clock = clock
    }

    /// Renders and writes the line if `minInterval` has passed since the last write (or `force`,
    /// or the work is complete); otherwise keeps it for `finish()`.
    public func update(done: Int, total: Int, elapsed: Double, fields: [String] = [], force: Bool = false) {
        let now = clock()
        let due = force || (total > 0 && done >= total) || lastWrite.map { now - $0 >= minInterval } ?? true
        let line = bar.render(done: done, total: total, elapsed: elapsed, fields: fields)
        if due {
            write(line)
            lastWrite = now
            pending = nil
        } else {
            pending = line
        }
    }

    /// Writes a kept line, if any, and ends the line. Safe to call more than once.
    public func finish() {
        if let line = pending { write(line); pending = nil }
        if wroteAnything { handle.write(Data("\n".utf8)) }
        wroteAnything = false
        lastLength = 0
        lastWrite = nil
    }

    private func write(_ line: String) {
        // Pad with spaces over what is left of a longer previous line.
        let padding = max(0, lastLength - line.count)
        handle.write(Data(("\r" + line + String(repeating: " ", count: padding)).utf8))
        lastLength = line.count
        wroteAnything = true
    }
}
