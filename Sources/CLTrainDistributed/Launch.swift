import Foundation

/// How this process was started, read from its environment before MPI is touched.
///
/// MPI is initialised only when a launcher that wires ranks together for Open MPI started the
/// process: Open MPI's `mpirun` (it sets `OMPI_COMM_WORLD_SIZE`) or a PMIx launcher such as
/// `srun --mpi=pmix` or `prterun` (`PMIX_RANK`). Slurm's own variables do not decide it:
/// `SLURM_NTASKS` and `SLURM_PROCID` are also set in an `sbatch` script that runs cltrain once,
/// outside any `srun`. Only `SLURM_STEP_NUM_TASKS` above 1 without PMIx is caught, as an error: the
/// tasks of such an `srun` could not find each other and would each train alone.
public enum Launch: Equatable {
    /// No launcher: one process, MPI untouched.
    case single
    /// Started by `launcher` as one of `expectedSize` processes (nil: the launcher does not say).
    case mpi(launcher: String, expectedSize: Int?)

    public static func detect(_ environment: [String: String]) throws -> Launch {
        if let size = environment["OMPI_COMM_WORLD_SIZE"] {
            return .mpi(launcher: "mpirun", expectedSize: Int(size))
        }
        if environment["PMIX_RANK"] != nil {
            let tasks = environment["SLURM_STEP_NUM_TASKS"].flatMap(Int.init)
            return .mpi(launcher: tasks != nil ? "srun" : "a PMIx launcher", expectedSize: tasks)
        }
        if let tasks = environment["SLURM_STEP_NUM_TASKS"].flatMap(Int.init), tasks > 1 {
            throw MPIError.launch("srun started \(tasks) tasks without PMIx, so they cannot reach each other: "
                                  + "run `srun --mpi=pmix cltrain ...` (or mpirun)")
        }
        return .single
    }
}

/// The communicator for this process: an `MPICommunicator` when a launcher started it (see
/// `Launch`), otherwise a `SingleProcess`, without initialising MPI.
public func communicatorFromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any Communicator {
    switch try Launch.detect(environment) {
    case .single:
        return SingleProcess()
    case let .mpi(launcher, expectedSize):
        let communicator = try MPICommunicator()
        if let expectedSize, expectedSize != communicator.size {
            throw MPIError.launch("\(launcher) started \(expectedSize) processes but MPI sees \(communicator.size): "
                                  + "start cltrain with the mpirun of the Open MPI it was built with, or srun --mpi=pmix")
        }
        return communicator
    }
}
