import CMPI

/// The processes started by an MPI launcher (mpirun, srun), over Open MPI's `MPI_COMM_WORLD`.
///
/// It owns MPI: its initialiser calls `MPI_Init_thread` and its deinitialiser `MPI_Finalize`, so
/// one value per process, alive while ranks talk, and released once (MPI cannot start again in the
/// same process). Errors come back as `MPIError` (the communicator's error handler is
/// `MPI_ERRORS_RETURN`), except where Open MPI ends the job itself: when a rank dies, `mpirun`
/// (or srun) kills the others and exits non-zero, naming the rank.
///
/// Thread level: `MPI_THREAD_SERIALIZED`. One thread at a time calls MPI (the training loop's, which
/// also polls the pending bucket sums), but it need not be the thread that initialised MPI, as
/// `FUNNELED` would demand: a use case may run its loop on any thread. Open MPI costs the same
/// for both (it locks only for `MULTIPLE`, which nothing here needs).
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    public let localRank: Int
    public let localSize: Int
    private let world: MPI_Comm
    private var node: MPI_Comm?

    /// Initialise MPI. Throws when MPI cannot start or was started already in this process.
    public init() throws {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        precondition(initialized == 0, "MPI is initialised once per process: keep one MPICommunicator")
        var provided: Int32 = 0
        let requested = Int32(MPI_THREAD_SERIALIZED)
        let code = MPI_Init_thread(nil, nil, requested, &provided)
        guard code == MPI_SUCCESS else {
            throw MPIError.launch("MPI could not start (MPI_Init_thread returned \(code)): run cltrain under mpirun or srun --mpi=pmix, or alone")
        }
        world = cltrain_mpi_comm_world()
        MPI_Comm_set_errhandler(world, cltrain_mpi_errors_return())
        guard provided >= requested else {
            MPI_Finalize()
            throw MPIError.threadSupport(requested: requested, provided: provided)
        }
        var value: Int32 = 0
        MPI_Comm_rank(world, &value)
        rank = Int(value)
        MPI_Comm_size(world, &value)
        size = Int(value)
        // The ranks sharing this machine's memory: the launcher's local-rank variables differ
        // between launchers; MPI's own split is the same under all of them.
        var shared: MPI_Comm? = nil
        let split = MPI_Comm_split_type(world, Int32(MPI_COMM_TYPE_SHARED), Int32(rank), cltrain_mpi_info_null(), &shared)
        if split == MPI_SUCCESS, let shared {
            MPI_Comm_rank(shared, &value)
            localRank = Int(value)
            MPI_Comm_size(shared, &value)
            localSize = Int(value)
            node = shared
        } else {
            localRank = 0
            localSize = 1
        }
    }

    deinit {
        if node != nil { MPI_Comm_free(&node) }
        MPI_Finalize()
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try allreduce(buffer.baseAddress, count: buffer.count, type: cltrain_mpi_float(), elementSize: 4)
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try allreduce(buffer.baseAddress, count: buffer.count, type: cltrain_mpi_double(), elementSize: 8)
    }

    /// MPI counts are 32-bit: a larger buffer goes in pieces.
    private func allreduce(_ base: UnsafeMutableRawPointer?, count: Int, type: MPI_Datatype, elementSize: Int) throws {
        guard let base, count > 0 else { return }
        var start = 0
        while start < count {
            let piece = min(count - start, Int(Int32.max))
            try check("MPI_Allreduce", MPI_Allreduce(cltrain_mpi_in_place(), base + start * elementSize, Int32(piece), type,
                                                     cltrain_mpi_sum(), world))
            start += piece
        }
    }

    public func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingAllreduce {
        precondition(buffer.count <= Int(Int32.max), "a non-blocking sum takes at most 2^31-1 elements: use smaller buckets")
        guard let base = buffer.baseAddress, buffer.count > 0 else { return CompletedAllreduce() }
        var request: MPI_Request? = cltrain_mpi_request_null()
        try check("MPI_Iallreduce", MPI_Iallreduce(cltrain_mpi_in_place(), base, Int32(buffer.count), cltrain_mpi_float(),
                                                   cltrain_mpi_sum(), world, &request))
        return MPIRequest(request)
    }

    public func broadcast(_ bytes: [UInt8]) throws -> [UInt8] {
        var count = Int64(bytes.count)
        try check("MPI_Bcast", MPI_Bcast(&count, 1, cltrain_mpi_int64(), 0, world))
        var result = rank == 0 ? bytes : [UInt8](repeating: 0, count: Int(count))
        guard count > 0 else { return result }
        precondition(count <= Int64(Int32.max), "broadcast takes at most 2^31-1 bytes")
        try result.withUnsafeMutableBytes { raw in
            try check("MPI_Bcast", MPI_Bcast(raw.baseAddress, Int32(count), cltrain_mpi_byte(), 0, world))
        }
        return result
    }

    public func allgather(_ bytes: [UInt8]) throws -> [[UInt8]] {
        var mine = Int64(bytes.count)
        var counts = [Int64](repeating: 0, count: size)
        try counts.withUnsafeMutableBytes { raw in
            try check("MPI_Allgather", MPI_Allgather(&mine, 1, cltrain_mpi_int64(), raw.baseAddress, 1, cltrain_mpi_int64(), world))
        }
        let total = counts.reduce(0, +)
        precondition(total <= Int64(Int32.max), "allgather takes at most 2^31-1 bytes in all")
        let receiveCounts = counts.map { Int32($0) }
        var offsets = [Int32](repeating: 0, count: size)
        for index in 1..<max(size, 1) { offsets[index] = offsets[index - 1] + receiveCounts[index - 1] }
        var gathered = [UInt8](repeating: 0, count: max(Int(total), 1))
        var send = bytes.isEmpty ? [0] : bytes
        try send.withUnsafeMutableBytes { sendRaw in
            try gathered.withUnsafeMutableBytes { raw in
                try check("MPI_Allgatherv", MPI_Allgatherv(sendRaw.baseAddress, Int32(bytes.count), cltrain_mpi_byte(), raw.baseAddress,
                                                           receiveCounts, offsets, cltrain_mpi_byte(), world))
            }
        }
        return (0..<size).map { Array(gathered[Int(offsets[$0])..<Int(offsets[$0] + receiveCounts[$0])]) }
    }

    public func barrier() throws {
        try check("MPI_Barrier", MPI_Barrier(world))
    }
}

/// An `MPI_Iallreduce` in flight.
final class MPIRequest: PendingAllreduce {
    private var request: MPI_Request?
    private var done = false

    init(_ request: MPI_Request?) { self.request = request }

    func test() throws -> Bool {
        if done { return true }
        var flag: Int32 = 0
        try check("MPI_Test", MPI_Test(&request, &flag, cltrain_mpi_status_ignore()))
        done = flag != 0
        return done
    }

    func wait() throws {
        if done { return }
        try check("MPI_Wait", MPI_Wait(&request, cltrain_mpi_status_ignore()))
        done = true
    }

    /// A sum never waited for still writes into its buffer: wait before the request is gone, so
    /// that a write never outlives the memory it lands in (as long as the buffer's owner drops
    /// its requests first).
    deinit {
        if !done { MPI_Wait(&request, cltrain_mpi_status_ignore()) }
    }
}

/// Throw `MPIError.call` unless `code` is `MPI_SUCCESS`.
func check(_ function: String, _ code: Int32) throws {
    guard code != MPI_SUCCESS else { return }
    var text = [CChar](repeating: 0, count: Int(cltrain_mpi_max_error_string()) + 1)
    var length: Int32 = 0
    MPI_Error_string(code, &text, &length)
    throw MPIError.call(function: function, code: code, message: String(cString: text))
}
