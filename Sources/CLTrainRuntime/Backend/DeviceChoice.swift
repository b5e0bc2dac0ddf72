import Foundation

/// Which device to run on: `auto` (the first OpenCL GPU, else the native CPU backend), `cpu`
/// (the native backend), or `opencl[:N]` (OpenCL device N of `cltrain devices`, default the
/// first GPU, else device 0; an OpenCL CPU device such as PoCL is used only this way).
public enum DeviceChoice: Equatable, Sendable, CustomStringConvertible {
    case auto
    case cpu
    case opencl(index: Int?)

    /// Parse `auto`, `cpu`, `opencl` or `opencl:N`.
    public init(parsing text: String) throws {
        let lower = text.lowercased()
        switch lower {
        case "auto": self = .auto
        case "cpu": self = .cpu
        case "opencl": self = .opencl(index: nil)
        default:
            if lower.hasPrefix("opencl:"), let n = Int(lower.dropFirst("opencl:".count)), n >= 0 {
                self = .opencl(index: n)
            } else {
                throw DeviceSelectionError.unknownDevice(text)
            }
        }
    }

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .cpu: return "cpu"
        case .opencl(let index): return index.map { "opencl:\($0)" } ?? "opencl"
        }
    }
}

extension DeviceChoice {
    /// What `auto` opens among the OpenCL devices `entries` (in `OpenCLPlatforms.devices()`
    /// order): the first GPU, else the native CPU backend.
    public static func auto(among entries: [OpenCLDeviceEntry]) -> DeviceChoice {
        entries.firstIndex(where: { $0.info.kind == .gpu }).map { .opencl(index: $0) } ?? .cpu
    }
}

/// Stored as the text `--device` takes (`"auto"`, `"opencl:1"`), so run settings and checkpoints
/// read as the command line that made them.
extension DeviceChoice: Codable {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        try self.init(parsing: try container.decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

public enum DeviceSelectionError: Error, CustomStringConvertible {
    case unknownDevice(String)
    case noOpenCLDevice
    case noSuchOpenCLDevice(index: Int, available: Int)

    public var description: String {
        switch self {
        case .unknownDevice(let text):
            return "unknown device '\(text)': use auto, cpu, opencl or opencl:N (see `cltrain devices`)"
        case .noOpenCLDevice:
            return "no OpenCL device found: install an OpenCL driver (ICD), or use --device cpu"
        case .noSuchOpenCLDevice(let index, let available):
            return "there is no OpenCL device \(index) (\(available) found): see `cltrain devices`"
        }
    }
}

extension Device {
    /// Open the device `choice` names. `auto` never picks an OpenCL CPU device. `tune` says how
    /// its convolutions choose among their algorithms.
    ///
    /// One of `localSize` processes of a data-parallel job on this machine (`localRank` among
    /// them) takes its own share: `auto` and `opencl` (without an index) give local rank i the
    /// i-th OpenCL GPU when there are several (ranks beyond their count share them round-robin),
    /// and the native CPU backend gets cores / `localSize` threads (at least one).
    public static func open(_ choice: DeviceChoice, tune: TuneMode = .cached,
                            cacheDirectory: URL? = OpenCLProgramCache.defaultDirectory(),
                            localRank: Int = 0, localSize: Int = 1) throws -> Device {
        precondition(localSize >= 1 && (0..<localSize).contains(localRank))
        let cpuThreads = max(1, ProcessInfo.processInfo.activeProcessorCount / localSize)
        /// The GPU of this local rank among `entries`, nil when there is none.
        func localGPU(_ entries: [OpenCLDeviceEntry]) -> Int? {
            let gpus = entries.indices.filter { entries[$0].info.kind == .gpu }
            return gpus.isEmpty ? nil : gpus[localRank % gpus.count]
        }
        switch choice {
        case .cpu:
            return Device(backend: CPUBackend(threads: cpuThreads, tune: tune, cacheDirectory: cacheDirectory))
        case .auto:
            let entries = (try? OpenCLPlatforms.devices()) ?? []
            if let index = localGPU(entries) {
                return Device(backend: try OpenCLBackend(entry: entries[index], cacheDirectory: cacheDirectory, tune: tune))
            }
            return Device(backend: CPUBackend(threads: cpuThreads, tune: tune, cacheDirectory: cacheDirectory))
        case .opencl(let index):
            let entries = try OpenCLPlatforms.devices()
            guard !entries.isEmpty else { throw DeviceSelectionError.noOpenCLDevice }
            let entry: OpenCLDeviceEntry
            if let index {
                guard index < entries.count else { throw DeviceSelectionError.noSuchOpenCLDevice(index: index, available: entries.count) }
                entry = entries[index]
            } else {
                entry = entries[localGPU(entries) ?? 0]
            }
            return Device(backend: try OpenCLBackend(entry: entry, cacheDirectory: cacheDirectory, tune: tune))
        }
    }
}
