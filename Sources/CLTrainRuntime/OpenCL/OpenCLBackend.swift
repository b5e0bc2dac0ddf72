import CLTrainKernels
import COpenCL
import Foundation

/// The OpenCL backend: one device, its context and in-order queue, the program cache, and the
/// launch code of the hand-written kernels (the ops live in `OpenCL*Ops.swift`, one file per
/// kernel family, each function named like its kernel).
public final class OpenCLBackend: @unchecked Sendable {
    public let info: DeviceInfo
    public let context: OpenCLContext
    public let programs: OpenCLProgramCache
    /// Chooses each convolution's algorithm (see `OpenCLConvOps.swift`).
    public let tuner: Autotuner
    /// Bytes of local memory a work-group may use.
    public let localMemoryBytes: Int
    /// Build options of every kernel file.
    public let buildOptions = "-cl-std=CL1.2"
    /// A folder of `.cl` files that replaces the embedded ones (development).
    let kernelDirectory: String?

    /// Upper bound on the scratch bytes (column matrix and transposes) of one convolution
    /// chunk; the batch is split so that each chunk fits (at least one sample per chunk).
    var convolutionScratchBytes = 128 << 20

    /// Offer every implicit-GEMM configuration that fits, also on a CPU device (which normally
    /// tries a shorter list): how the checks on PoCL reach what a GPU's tuner may pick.
    var triesEveryConfiguration = false

    /// The algorithm each convolution runs with, once the tuner has chosen it.
    let convolutionChoices = ConvChoices<ConvAlgorithm>()

    private var kernels: [String: OpenCLKernel] = [:]
    private let lock = NSLock()
    private var allocatedBytes = 0
    private var tally = Counters()

    /// What this backend has enqueued since it opened: kernel launches, CLBlast calls and copies
    /// between host and device. Take two snapshots and subtract them to count a stretch of work.
    public struct Counters: Sendable, Codable, Equatable {
        /// Enqueued kernels of our own (`launch`).
        public var kernelLaunches = 0
        /// Calls into CLBlast, one per call; CLBlast may enqueue more than one kernel for a call
        /// (padding or transposing copies before its GEMM kernel), which this does not see.
        public var clblastCalls = 0
        /// Host-to-device writes and their bytes.
        public var writes = 0
        public var writeBytes = 0
        /// Device-to-host reads and their bytes.
        public var reads = 0
        public var readBytes = 0

        public init() {}

        /// The counts of `self` since the snapshot `earlier`.
        public static func - (later: Counters, earlier: Counters) -> Counters {
            var d = Counters()
            d.kernelLaunches = later.kernelLaunches - earlier.kernelLaunches
            d.clblastCalls = later.clblastCalls - earlier.clblastCalls
            d.writes = later.writes - earlier.writes
            d.writeBytes = later.writeBytes - earlier.writeBytes
            d.reads = later.reads - earlier.reads
            d.readBytes = later.readBytes - earlier.readBytes
            return d
        }
    }

    /// A snapshot of the counters (thread-safe).
    public var counters: Counters {
        lock.lock()
        defer { lock.unlock() }
        return tally
    }

    private func record(_ update: (inout Counters) -> Void) {
        lock.lock()
        update(&tally)
        lock.unlock()
    }

    /// Open the device `entry` (see `OpenCLPlatforms.devices()`).
    /// `tune` says how convolutions choose among their algorithms; the choices are kept in
    /// `cacheDirectory` beside the compiled programs.
    public init(entry: OpenCLDeviceEntry, cacheDirectory: URL? = OpenCLProgramCache.defaultDirectory(), tune: TuneMode = .cached) throws {
        self.info = entry.info
        self.context = try OpenCLContext(device: entry.id)
        self.programs = OpenCLProgramCache(context: context, info: entry.info, directory: cacheDirectory)
        let env = ProcessInfo.processInfo.environment["CLTRAIN_KERNELS_DIR"]
        self.kernelDirectory = (env?.isEmpty ?? true) ? nil : env
        let local: cl_ulong = try OpenCLPlatforms.deviceValue(entry.id, CL_DEVICE_LOCAL_MEM_SIZE)
        self.localMemoryBytes = Int(local)
        // The candidates' code is part of the key: new kernels are tuned again.
        let code = [KernelFamily.conv, .convImplicitGemm].map { (try? KernelSources.source($0, overrideDirectory: env)) ?? "" }.joined()
        self.tuner = Autotuner(mode: tune, deviceKey: "\(entry.info.vendor)|\(entry.info.name)|\(entry.info.driver)|\(fnv1aHex(code))",
                               directory: cacheDirectory)
    }

    /// Build every kernel file now (otherwise each is built on first use).
    public func buildAllPrograms() throws {
        for family in KernelFamily.allCases where family != .convImplicitGemm { _ = try program(family) }
        for configuration in ImplicitGemmConfiguration.candidates(for: self) { _ = try program(.convImplicitGemm, defines: configuration.defines) }
    }

    /// Build a program from arbitrary source through the cache (tests, tools).
    public func buildProgram(name: String, source: String) throws -> OpenCLProgram {
        try programs.program(name: name, source: source, options: buildOptions)
    }

    /// The program of `family`, built with `defines` (`-D` options) after the common options.
    func program(_ family: KernelFamily, defines: String = "") throws -> OpenCLProgram {
        let source = KernelSources.prelude + (try KernelSources.source(family, overrideDirectory: kernelDirectory))
        return try programs.program(name: family.fileName, source: source, options: defines.isEmpty ? buildOptions : "\(buildOptions) \(defines)")
    }

    /// The kernel `name` of `family` (built with `defines`), created once.
    func kernel(_ family: KernelFamily, _ name: String, defines: String = "") throws -> OpenCLKernel {
        let key = "\(family.rawValue)/\(name)/\(defines)"
        lock.lock()
        if let kernel = kernels[key] {
            lock.unlock()
            return kernel
        }
        lock.unlock()
        let kernel = try program(family, defines: defines).kernel(name)
        lock.lock()
        kernels[key] = kernel
        lock.unlock()
        return kernel
    }

    /// Enqueue kernel `name` of `family` over `global` work-items (rounded up to multiples of
    /// `local` when given; kernels check their bounds).
    func launch(_ family: KernelFamily, _ name: String, defines: String = "", global: [Int], local: [Int]? = nil,
                _ arguments: [KernelArgument]) throws {
        precondition(!global.isEmpty && global.count <= 3)
        if global.contains(0) { return }
        let kernel = try kernel(family, name, defines: defines)
        if let local, local.reduce(1, *) > kernel.maxGroupSize {
            throw OpenCLError("\(name) in groups of \(local.reduce(1, *)): the device runs at most \(kernel.maxGroupSize) work-items of it per group",
                              CL_INVALID_WORK_GROUP_SIZE)
        }
        lock.lock()
        defer { lock.unlock() }
        try kernel.setArguments(arguments)
        var globalSize = global
        if let local {
            precondition(local.count == global.count)
            for i in global.indices { globalSize[i] = (global[i] + local[i] - 1) / local[i] * local[i] }
        }
        let status: cl_int
        if let local {
            status = clEnqueueNDRangeKernel(context.queue, kernel.handle, cl_uint(global.count), nil, globalSize, local, 0, nil, nil)
        } else {
            status = clEnqueueNDRangeKernel(context.queue, kernel.handle, cl_uint(global.count), nil, globalSize, nil, 0, nil, nil)
        }
        try OpenCLError.check(status, "clEnqueueNDRangeKernel(\(name))")
        tally.kernelLaunches += 1  // under the lock taken above
    }

    /// A work-group size for reduction kernels: a power of two no larger than the device allows.
    var reductionGroupSize: Int {
        var size = 256
        while size > info.maxWorkGroupSize { size /= 2 }
        return size
    }

    static func mem(_ t: Tensor) -> cl_mem? { OpaquePointer(t.storage.buffer.handle) }

    /// Batched row-major GEMM through CLBlast: for i in 0..<batch,
    /// `C_i = alpha op(A_i) op(B_i) + beta C_i` with `X_i` at `x.offset + xOffset + i * xStride`.
    func sgemmStridedBatched(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: Tensor, aOffset: Int = 0, lda: Int, strideA: Int,
                             b: Tensor, bOffset: Int = 0, ldb: Int, strideB: Int, beta: Float,
                             c: Tensor, cOffset: Int = 0, ldc: Int, strideC: Int, batch: Int) throws {
        if m == 0 || n == 0 || batch == 0 { return }
        var queue: cl_command_queue? = context.queue
        record { $0.clblastCalls += 1 }
        if batch == 1 {
            let status = CLBlastSgemm(CLBlastLayoutRowMajor, transposeA ? CLBlastTransposeYes : CLBlastTransposeNo,
                                      transposeB ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha,
                                      Self.mem(a), a.offset + aOffset, lda, Self.mem(b), b.offset + bOffset, ldb, beta,
                                      Self.mem(c), c.offset + cOffset, ldc, &queue, nil)
            try OpenCLError.check(status.rawValue, "CLBlastSgemm(\(m)x\(n)x\(k))")
            return
        }
        let status = CLBlastSgemmStridedBatched(
            CLBlastLayoutRowMajor, transposeA ? CLBlastTransposeYes : CLBlastTransposeNo,
            transposeB ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha,
            Self.mem(a), a.offset + aOffset, lda, strideA, Self.mem(b), b.offset + bOffset, ldb, strideB, beta,
            Self.mem(c), c.offset + cOffset, ldc, strideC, batch, &queue, nil)
        try OpenCLError.check(status.rawValue, "CLBlastSgemmStridedBatched(\(m)x\(n)x\(k), batch \(batch))")
    }
}

// MARK: - Memory and copies

extension OpenCLBackend: RawAllocator {
    public func allocate(bytes: Int) throws -> RawBuffer {
        let size = max(bytes, 4)
        if size > info.maxAllocationBytes {
            throw AllocationFailure(bytes: bytes, reason: "larger than the device's largest buffer, \(formatBytes(info.maxAllocationBytes))")
        }
        lock.lock()
        let total = allocatedBytes
        lock.unlock()
        if total + size > info.globalMemoryBytes {
            throw AllocationFailure(bytes: bytes, reason: "device memory is \(formatBytes(info.globalMemoryBytes)), \(formatBytes(total)) already allocated")
        }
        var status: cl_int = 0
        let mem = clCreateBuffer(context.context, cl_mem_flags(CL_MEM_READ_WRITE), size, nil, &status)
        guard let mem, status == CL_SUCCESS else {
            switch status {
            case CL_MEM_OBJECT_ALLOCATION_FAILURE, CL_OUT_OF_RESOURCES, CL_OUT_OF_HOST_MEMORY, CL_INVALID_BUFFER_SIZE:
                throw AllocationFailure(bytes: bytes, reason: "clCreateBuffer returned \(OpenCLError.name(of: status))")
            default:
                throw OpenCLError("clCreateBuffer(\(size) bytes)", status)
            }
        }
        lock.lock()
        allocatedBytes += size
        lock.unlock()
        return RawBuffer(handle: UnsafeMutableRawPointer(mem), bytes: bytes)
    }

    public func deallocate(_ buffer: RawBuffer) {
        clReleaseMemObject(OpaquePointer(buffer.handle))
        lock.lock()
        allocatedBytes -= max(buffer.bytes, 4)
        lock.unlock()
    }
}

extension OpenCLBackend {
    public func write(from source: UnsafeRawPointer, to buffer: RawBuffer, offset: Int, bytes: Int) throws {
        if bytes == 0 { return }
        // Blocking: the host memory may be reused as soon as this returns.
        try OpenCLError.check(
            clEnqueueWriteBuffer(context.queue, OpaquePointer(buffer.handle), cl_bool(CL_TRUE), offset, bytes, source, 0, nil, nil),
            "clEnqueueWriteBuffer(\(bytes) bytes)")
        record { $0.writes += 1; $0.writeBytes += bytes }
    }

    public func read(from buffer: RawBuffer, offset: Int, bytes: Int, into destination: UnsafeMutableRawPointer) throws {
        if bytes == 0 { return }
        try OpenCLError.check(
            clEnqueueReadBuffer(context.queue, OpaquePointer(buffer.handle), cl_bool(CL_TRUE), offset, bytes, destination, 0, nil, nil),
            "clEnqueueReadBuffer(\(bytes) bytes)")
        record { $0.reads += 1; $0.readBytes += bytes }
    }

    public func synchronize() throws {
        try context.finish()
    }

    public func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: Tensor, lda: Int, b: Tensor, ldb: Int, beta: Float, c: Tensor, ldc: Int) throws {
        try sgemmStridedBatched(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                                a: a, lda: lda, strideA: 0, b: b, ldb: ldb, strideB: 0, beta: beta,
                                c: c, ldc: ldc, strideC: 0, batch: 1)
    }
}
