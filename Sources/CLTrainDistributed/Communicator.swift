import Foundation

/// The processes of a data-parallel job and the collectives between them. Every rank calls the
/// same collectives in the same order; a collective returns once every rank has joined it.
///
/// A communicator is used by one thread at a time (the training loop's); it is not `Sendable`.
public protocol Communicator: AnyObject {
    /// This process's index among all of the job's, 0 ..< size.
    var rank: Int { get }
    /// How many processes the job has.
    var size: Int { get }
    /// This process's index among the job's processes on the same machine (which GPU it takes).
    var localRank: Int { get }
    /// How many of the job's processes run on this machine (how the cores are shared).
    var localSize: Int { get }

    /// Replace `buffer` on every rank by the element-wise sum over all ranks.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// The same in double precision (metrics: loss sums, correct counts).
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    /// Start summing `buffer` in place without waiting: the caller keeps `buffer` alive and
    /// untouched until `wait()` on the returned request has returned.
    func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingAllreduce
    /// Rank 0's `bytes` on every rank (the others' `bytes` are ignored; they may be empty).
    func broadcast(_ bytes: [UInt8]) throws -> [UInt8]
    /// Every rank's `bytes`, indexed by rank, on every rank.
    func allgather(_ bytes: [UInt8]) throws -> [[UInt8]]
    /// Returns once every rank has called it.
    func barrier() throws
}

/// A sum started by `startAllreduceSum`.
public protocol PendingAllreduce: AnyObject {
    /// Whether the sum is done; each call also lets the MPI library move it on (Open MPI's
    /// non-blocking collectives progress only inside MPI calls).
    func test() throws -> Bool
    /// Returns when the sum is in the buffer.
    func wait() throws
}

extension Communicator {
    /// Every rank's `text`, indexed by rank.
    public func allgather(_ text: String) throws -> [String] {
        try allgather(Array(text.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Rank 0's `text` on every rank.
    public func broadcast(_ text: String) throws -> String {
        String(decoding: try broadcast(Array(text.utf8)), as: UTF8.self)
    }

    /// The element-wise sums over all ranks of `values` (each rank passes as many).
    public func sum(_ values: [Double]) throws -> [Double] {
        var values = values
        try values.withUnsafeMutableBufferPointer { try allreduceSum($0) }
        return values
    }

    /// Check that every rank runs with the same `fields` (name and value, in the same order on every
    /// rank) as rank 0: the first that differs on the lowest rank throws
    /// `MPIError.settingsDiffer`, on every rank alike.
    public func checkSameSettings(_ fields: [(name: String, value: String)]) throws {
        guard size > 1 else { return }
        let encoded = try JSONEncoder().encode(fields.map { [$0.name, $0.value] })
        let all = try allgather(Array(encoded)).map { try JSONDecoder().decode([[String]].self, from: Data($0)) }
        if let difference = firstDifference(all) { throw difference }
    }
}

/// The first field by which a rank's settings differ from rank 0's (`settings[rank]` is a list of
/// [name, value] pairs), or nil when all agree.
func firstDifference(_ settings: [[[String]]]) -> MPIError? {
    guard let reference = settings.first else { return nil }
    for (rank, fields) in settings.enumerated().dropFirst() where fields != reference {
        for index in 0..<max(fields.count, reference.count) {
            let mine = index < fields.count ? fields[index] : nil
            let theirs = index < reference.count ? reference[index] : nil
            if mine == theirs { continue }
            let field = mine?.first ?? theirs?.first ?? "?"
            return .settingsDiffer(rank: rank, field: field, value: mine?.last ?? "(missing)",
                                   rankZeroValue: theirs?.first == field ? theirs?.last ?? "(missing)" : "(missing)")
        }
    }
    return nil
}
