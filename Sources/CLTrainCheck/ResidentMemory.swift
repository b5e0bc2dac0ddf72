import Foundation

/// The process's resident memory on Linux (/proc/self/status), to measure how much memory a
/// training step touches the same way for cltrain and for PyTorch (scripts/memory_compare.py):
/// reset the peak to the current size, run the step, read the peak again.
public enum ResidentMemory {
    /// A field of /proc/self/status in bytes (`VmRSS`, `VmHWM`), nil where there is none.
    public static func status(_ field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let kib = line.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
            return kib.map { $0 * 1024 }
        }
        return nil
    }

    /// Resets the peak (VmHWM) to the current resident size and returns that size; nil where
    /// the kernel does not allow it.
    public static func startPeakWindow() -> Int? {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return nil }
        defer { try? handle.close() }
        guard (try? handle.write(contentsOf: Data("5".utf8))) != nil else { return nil }
        return status("VmRSS")
    }

    /// How far the resident size rose above `baseline` since `startPeakWindow`.
    public static func peakGrowth(since baseline: Int?) -> Int? {
        guard let baseline, let peak = status("VmHWM") else { return nil }
        return max(0, peak - baseline)
    }
}
