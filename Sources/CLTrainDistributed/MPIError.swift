/// Everything that goes wrong between ranks: one line that says what happened and what to do.
public enum MPIError: Error, CustomStringConvertible, Equatable {
    /// An MPI call returned an error code (the communicator returns errors rather than aborting).
    case call(function: String, code: Int32, message: String)
    /// The MPI library offers less thread support than the communicator needs.
    case threadSupport(requested: Int32, provided: Int32)
    /// The launcher and MPI disagree on how many processes there are, or MPI cannot start.
    case launch(String)
    /// A rank runs with a setting (or model, or data) that differs from rank 0's.
    case settingsDiffer(rank: Int, field: String, value: String, rankZeroValue: String)

    public var description: String {
        switch self {
        case let .call(function, code, message):
            return "\(function) failed (MPI error \(code): \(message)); a rank may have died or the network failed: "
                + "the job cannot continue, resume it from its last checkpoint"
        case let .threadSupport(requested, provided):
            return "the MPI library provides thread level \(provided), below the \(requested) cltrain needs: "
                + "use an MPI built with thread support (Debian's Open MPI has it)"
        case let .launch(message):
            return message
        case let .settingsDiffer(rank, field, value, rankZeroValue):
            return "rank \(rank) runs with \(field) = \(value) but rank 0 with \(rankZeroValue): "
                + "start every rank with the same settings, model and data"
        }
    }

    /// Every rank raises this error alike (it comes from data all ranks share), so rank 0 alone
    /// needs to print it.
    public var isRaisedByEveryRank: Bool {
        if case .settingsDiffer = self { return true }
        return false
    }
}
