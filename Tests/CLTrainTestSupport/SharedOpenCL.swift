import CLTrainRuntime

/// The first OpenCL device, opened once for the whole test process: PoCL compiles programs
/// slowly, so every test class that runs on OpenCL shares it. Its convolutions take the rule
/// (`tune: .off`: nothing is timed, and no tuning cache is read or written), so every test runs the
/// same algorithm on every machine and spends no time tuning; a test that checks each candidate
/// pins it (`tuner.pinning`). Compiled programs are still cached on disk.
public enum SharedOpenCL {
    /// No ICD, or no device on any platform.
    public struct NoPlatform: Error, CustomStringConvertible {
        public var description: String { "no OpenCL platform: no ICD or no device found" }
    }

    public static let device: Result<Device, Error> = Result {
        guard let entry = try OpenCLPlatforms.devices().first else { throw NoPlatform() }
        return Device(backend: try OpenCLBackend(entry: entry, tune: .off))
    }
}
