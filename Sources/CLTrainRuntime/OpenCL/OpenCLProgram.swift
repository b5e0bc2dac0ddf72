import COpenCL
import Foundation

/// A built OpenCL program, released in `deinit`.
public final class OpenCLProgram: @unchecked Sendable {
    public let handle: cl_program
    public let name: String

    init(handle: cl_program, name: String) {
        self.handle = handle
        self.name = name
    }

    deinit { clReleaseProgram(handle) }

    /// A kernel of this program.
    public func kernel(_ kernelName: String) throws -> OpenCLKernel {
        var status: cl_int = 0
        guard let kernel = clCreateKernel(handle, kernelName, &status), status == CL_SUCCESS else {
            throw OpenCLError("clCreateKernel(\(kernelName))", status)
        }
        return try OpenCLKernel(handle: kernel, name: kernelName, program: self)
    }
}

/// How programs were obtained, for `bench` and tests.
public struct ProgramCacheStatistics: Sendable, Equatable {
    public var builtFromSource = 0
    public var loadedFromDisk = 0
    public var memoryHits = 0
    /// Seconds spent building or loading programs.
    public var buildSeconds = 0.0
}

/// Builds programs and keeps them: in memory by (source, options), on disk by a hash of the
/// source, the options, the device name and the driver version, so a second start skips the
/// compiler. A binary the driver refuses is rebuilt from source.
public final class OpenCLProgramCache: @unchecked Sendable {
    let context: OpenCLContext
    let deviceKey: String
    let deviceName: String
    /// Where binaries are stored; nil disables the disk cache.
    public let directory: URL?
    private var programs: [String: OpenCLProgram] = [:]
    private let lock = NSLock()
    public private(set) var statistics = ProgramCacheStatistics()

    init(context: OpenCLContext, info: DeviceInfo, directory: URL?) {
        self.context = context
        self.deviceKey = "\(info.vendor)|\(info.name)|\(info.driver)"
        self.deviceName = info.name
        self.directory = directory
        if let directory {
            try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
    }

    /// The default disk location: `$CLTRAIN_CACHE_DIR`, else `$XDG_CACHE_HOME/cltrain/kernels`,
    /// else `~/.cache/cltrain/kernels`.
    public static func defaultDirectory() -> URL {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["CLTRAIN_CACHE_DIR"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg).appendingPathComponent("cltrain/kernels")
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/cltrain/kernels")
    }

    public func program(name: String, source: String, options: String) throws -> OpenCLProgram {
        let key = Self.hash("\(source)\u{0}\(options)")
        lock.lock()
        defer { lock.unlock() }
        if let program = programs[key] {
            statistics.memoryHits += 1
            return program
        }
        let start = Date()
        defer { statistics.buildSeconds += Date().timeIntervalSince(start) }
        let diskKey = Self.hash("\(deviceKey)\u{0}\(source)\u{0}\(options)")
        let file = directory?.appendingPathComponent("\(diskKey).bin")
        if let file, let binary = try? Data(contentsOf: file),
           let program = try? buildFromBinary(binary, name: name, options: options) {
            statistics.loadedFromDisk += 1
            programs[key] = program
            return program
        }
        let program = try buildFromSource(source, name: name, options: options)
        statistics.builtFromSource += 1
        programs[key] = program
        if let file, let binary = try? binary(of: program) {
            let temporary = file.appendingPathExtension("tmp\(getpid())")
            // Written aside and renamed, so a reader never sees half a binary.
            if (try? binary.write(to: temporary)) != nil, rename(temporary.path, file.path) != 0 {
                try? FileManager.default.removeItem(at: temporary)
            }
        }
        return program
    }

    private func buildFromSource(_ source: String, name: String, options: String) throws -> OpenCLProgram {
        var status: cl_int = 0
        let handle: cl_program? = source.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            var length = strlen(text)
            return clCreateProgramWithSource(context.context, 1, &pointer, &length, &status)
        }
        guard let handle, status == CL_SUCCESS else { throw OpenCLError("clCreateProgramWithSource(\(name))", status) }
        let program = OpenCLProgram(handle: handle, name: name)
        try build(program, options: options)
        return program
    }

    private func buildFromBinary(_ binary: Data, name: String, options: String) throws -> OpenCLProgram {
        var status: cl_int = 0
        var binaryStatus: cl_int = 0
        var device: cl_device_id? = context.device
        let handle: cl_program? = binary.withUnsafeBytes { raw in
            var length = raw.count
            var pointer: UnsafePointer<UInt8>? = raw.bindMemory(to: UInt8.self).baseAddress
            return clCreateProgramWithBinary(context.context, 1, &device, &length, &pointer, &binaryStatus, &status)
        }
        guard let handle, status == CL_SUCCESS, binaryStatus == CL_SUCCESS else {
            throw OpenCLError("clCreateProgramWithBinary(\(name))", status != CL_SUCCESS ? status : binaryStatus)
        }
        let program = OpenCLProgram(handle: handle, name: name)
        try build(program, options: options)
        return program
    }

    private func build(_ program: OpenCLProgram, options: String) throws {
        var device: cl_device_id? = context.device
        let status = clBuildProgram(program.handle, 1, &device, options, nil, nil)
        if status == CL_SUCCESS { return }
        let log = buildLog(program)
        if status == CL_BUILD_PROGRAM_FAILURE || !log.isEmpty {
            throw KernelBuildError(program: program.name, device: deviceName, options: options, log: log)
        }
        throw OpenCLError("clBuildProgram(\(program.name))", status)
    }

    private func buildLog(_ program: OpenCLProgram) -> String {
        var size = 0
        guard clGetProgramBuildInfo(program.handle, context.device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), 0, nil, &size) == CL_SUCCESS,
              size > 1 else { return "" }
        var bytes = [CChar](repeating: 0, count: size + 1)
        clGetProgramBuildInfo(program.handle, context.device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), size, &bytes, nil)
        return String(cString: bytes).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func binary(of program: OpenCLProgram) throws -> Data {
        var size = 0
        try OpenCLError.check(clGetProgramInfo(program.handle, cl_program_info(CL_PROGRAM_BINARY_SIZES), MemoryLayout<Int>.size, &size, nil),
                              "clGetProgramInfo(CL_PROGRAM_BINARY_SIZES)")
        guard size > 0 else { throw OpenCLError("clGetProgramInfo(CL_PROGRAM_BINARY_SIZES)", CL_INVALID_BINARY) }
        var data = Data(count: size)
        try data.withUnsafeMutableBytes { raw in
            var pointer: UnsafeMutablePointer<UInt8>? = raw.bindMemory(to: UInt8.self).baseAddress
            try OpenCLError.check(clGetProgramInfo(program.handle, cl_program_info(CL_PROGRAM_BINARIES),
                                                   MemoryLayout<UnsafeMutablePointer<UInt8>?>.size, &pointer, nil),
                                  "clGetProgramInfo(CL_PROGRAM_BINARIES)")
        }
        return data
    }

    static func hash(_ text: String) -> String { fnv1aHex(text) }
}
