import CLTrainRuntime

/// The first OpenCL device, opened once for the whole test process: PoCL compiles programs
/// slowly, so every test class that runs on OpenCL shares it.
public enum SharedOpenCL {
    /// No ICD, or no device on any platform.
    public struct NoPlatform: Error, CustomStringConvertible {
        public var description: String { "no OpenCL platform: no ICD or no device found" }
    }

    public static let device: Result<Device, Error> = Result {
        guard let entry = try OpenCLPlatforms.devices().first else { throw NoPlatform() }
        return Device(backend: try OpenCLBackend(entry: entry))
    }
}
