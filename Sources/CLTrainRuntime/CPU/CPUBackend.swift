import COpenBLAS
import Foundation

/// The native backend: host memory, Swift loops split over threads, and OpenBLAS for GEMM.
///
/// A `RawBuffer`'s handle is the host pointer itself, and every op runs synchronously on the
/// calling thread (helped by worker threads), so `synchronize()` has nothing to wait for.
public final class CPUBackend: Backend {
    public let info: DeviceInfo
    /// Chooses each convolution's algorithm (`CPUConvAlgorithm`) by timing them on this CPU.
    public let tuner: Autotuner
    /// The algorithm each convolution runs with, once the tuner has chosen it.
    let convolutionChoices = ConvChoices<CPUConvAlgorithm>()
    let parallel: CPUParallel

    /// `tune` is how convolutions choose their algorithm: `off` (the default: fixed rules, as
    /// reference checks and tests want) or by timing, with the winners kept in `cacheDirectory`.
    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, tune: TuneMode = .off, cacheDirectory: URL? = nil) {
        let threads = max(threads, 1)
        parallel = CPUParallel(pool: CPUThreadPool(threads: threads))
        // OpenBLAS runs single-threaded: the backend splits work across its own threads (by
        // samples, or by rows or columns of a large GEMM), so small GEMMs pay no thread wake-ups
        // and OpenBLAS's spinning workers never compete with the element-wise loops.
        _ = Self.openBLASKernels
        openblas_set_num_threads(1)
        let cpu = Self.cpuInfo()
        let physical = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        let openBLAS = Self.openBLASVersion()
        // "OpenBLAS 0.3.21 SkylakeX, kernels avx512": also the path of the batch-norm loops.
        info = DeviceInfo(
            backend: "cpu", name: cpu["model name"] ?? "CPU", vendor: cpu["vendor_id"] ?? "unknown",
            driver: "\(openBLAS), kernels \(SIMDReduction.path)", kind: .cpu, computeUnits: threads,
            globalMemoryBytes: physical, maxAllocationBytes: physical, maxWorkGroupSize: 1)
        // Timings hold for this CPU, this OpenBLAS, this many threads and these algorithms.
        tuner = Autotuner(mode: tune, deviceKey: "cpu|\(info.name)|\(openBLAS)|threads \(threads)|\(CPUConvAlgorithm.revision)",
                          directory: cacheDirectory)
    }

    /// The first value of each key in /proc/cpuinfo (empty where there is no such file).
    private static func cpuInfo() -> [String: String] {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return [:] }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if fields[key] == nil, !value.isEmpty { fields[key] = value }
        }
        return fields
    }

    /// OpenBLAS's kernels for this CPU, chosen once per process before the first BLAS call: a
    /// CPU newer than the library gets the kernels its features allow instead of the generic
    /// fallback (`cltrain_openblas_select_core`; on an Emerald Rapids Xeon, SGEMM runs 6x faster).
    private static let openBLASKernels: Void = { _ = cltrain_openblas_select_core() }()

    /// "OpenBLAS 0.3.21 SkylakeX": the library's version (from its configuration string) and the
    /// kernels it runs.
    private static func openBLASVersion() -> String {
        var name = "OpenBLAS"
        if let config = openblas_get_config() {
            let words = String(cString: config).split(separator: " ")
            if words.count >= 2, words[0] == "OpenBLAS" { name += " \(words[1])" }
        }
        if let core = openblas_get_corename() { name += " \(String(cString: core))" }
        return name
    }

    // MARK: Raw memory

    static let alignment = 64

    public func allocate(bytes: Int) throws -> RawBuffer {
        guard bytes >= 0 else { throw AllocationFailure(bytes: bytes, reason: "negative size") }
        let size = max(bytes, Self.alignment)
        let limit = info.globalMemoryBytes.multipliedReportingOverflow(by: 4)
        if !limit.overflow, size > limit.partialValue {
            throw AllocationFailure(bytes: bytes, reason: "more than four times the physical memory (\(formatBytes(info.globalMemoryBytes)))")
        }
        var pointer: UnsafeMutableRawPointer?
        let status = posix_memalign(&pointer, Self.alignment, size)
        guard status == 0, let pointer else {
            throw AllocationFailure(bytes: bytes, reason: "posix_memalign failed: \(String(cString: strerror(status)))")
        }
        return RawBuffer(handle: pointer, bytes: size)
    }

    public func deallocate(_ buffer: RawBuffer) {
        free(buffer.handle)
    }

    public func write(from source: UnsafeRawPointer, to buffer: RawBuffer, offset: Int, bytes: Int) throws {
        precondition(offset >= 0 && bytes >= 0 && offset + bytes <= buffer.bytes,
                     "write of \(bytes) bytes at \(offset) outside a buffer of \(buffer.bytes)")
        if bytes > 0 { memcpy(buffer.handle + offset, source, bytes) }
    }

    public func read(from buffer: RawBuffer, offset: Int, bytes: Int, into destination: UnsafeMutableRawPointer) throws {
        precondition(offset >= 0 && bytes >= 0 && offset + bytes <= buffer.bytes,
                     "read of \(bytes) bytes at \(offset) outside a buffer of \(buffer.bytes)")
        if bytes > 0 { memcpy(destination, buffer.handle + offset, bytes) }
    }

    public func synchronize() throws {}

    // MARK: Pointers

    /// Element [0, ...] of `tensor`, which must live on this backend.
    func rawPointer(_ tensor: Tensor) -> UnsafeMutablePointer<Float> {
        precondition(tensor.device.backend.underlying === self, "\(tensor) does not live on this CPU backend")
        return tensor.storage.buffer.handle.assumingMemoryBound(to: Float.self) + tensor.offset
    }

    /// Element [0, ...] of a sample-contiguous tensor on this backend; sample `n` starts at
    /// `pointer + n * tensor.sampleStride`.
    func pointer(_ tensor: Tensor) -> UnsafeMutablePointer<Float> {
        precondition(tensor.isSampleContiguous, "\(tensor) with strides \(tensor.strides) is not sample-contiguous")
        return rawPointer(tensor)
    }

    /// Element 0 of a dense tensor (weights, biases, per-channel statistics) on this backend.
    func dense(_ tensor: Tensor) -> UnsafeMutablePointer<Float> {
        precondition(tensor.isContiguous, "\(tensor) with strides \(tensor.strides) must be contiguous")
        return rawPointer(tensor)
    }

    /// Rows and row length of an element-wise loop over same-shaped tensors: one row when all are
    /// dense, else one row per sample (row `r` of tensor `t` starts at `r * t.sampleStride`).
    func rowLayout(_ tensors: [Tensor]) -> (rows: Int, length: Int) {
        let first = tensors[0]
        if tensors.allSatisfy(\.isContiguous) || first.rank == 0 { return (1, first.count) }
        return (first.shape[0], first.sampleSize)
    }

    public func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: Tensor, lda: Int, b: Tensor, ldb: Int, beta: Float, c: Tensor, ldc: Int) throws {
        gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
             a: rawPointer(a), lda: lda, b: rawPointer(b), ldb: ldb, beta: beta, c: rawPointer(c), ldc: ldc)
    }

    /// Row-major `C = alpha * op(A) op(B) + beta * C` on host pointers (OpenBLAS, single-threaded).
    /// With `beta == 0`, C is only written (OpenBLAS zeroes it first, so garbage is fine). When
    /// `threaded` and the product is large, C is split by rows (or columns) across the threads.
    func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
              a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
              beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threaded: Bool = true) {
        precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative size \(m) x \(n) x \(k)")
        if m == 0 || n == 0 { return }
        precondition(lda >= max(transposeA ? m : k, 1) && ldb >= max(transposeB ? k : n, 1) && ldc >= max(n, 1),
                     "sgemm: leading dimensions \(lda), \(ldb), \(ldc) too small for \(m) x \(n) x \(k)")
        if k == 0 {
            for row in 0..<m {
                let p = c + row * ldc
                for i in 0..<n { p[i] = beta == 0 ? 0 : beta * p[i] }
            }
            return
        }
        let pieces = threaded ? min(parallel.threads, max(1, m * n * k / (1 << 20))) : 1
        if pieces > 1 && max(m, n) >= 2 * pieces {
            parallel.run(pieces) { piece in
                if m >= n {
                    let r0 = m * piece / pieces, r1 = m * (piece + 1) / pieces
                    Self.blas(transposeA, transposeB, r1 - r0, n, k, alpha, transposeA ? a + r0 : a + r0 * lda, lda, b, ldb,
                              beta, c + r0 * ldc, ldc)
                } else {
                    let c0 = n * piece / pieces, c1 = n * (piece + 1) / pieces
                    Self.blas(transposeA, transposeB, m, c1 - c0, k, alpha, a, lda, transposeB ? b + c0 * ldb : b + c0, ldb,
                              beta, c + c0, ldc)
                }
            }
            return
        }
        Self.blas(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    private static func blas(_ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                             _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                             _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
