import ArgumentParser
import CLTrainDistributed
import CLTrainTraining
import Foundation

/// `cltrain bench allreduce`: the bandwidth of gradient sums between the ranks of an MPI job.
struct BenchAllreduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Under mpirun -np N: time in-place float32 sums over all ranks (median time, bus bandwidth); "
            + "with --buckets, a model's gradients summed in buckets as backward would."
    )

    @Option(name: .long, parsing: .upToNextOption, help: "Buffer sizes in MiB (fractions allowed).")
    var mib: [Double] = [1, 4, 25, 100]

    @Option(name: .long, help: "Timed repetitions per size (the median is reported).")
    var repetitions = 10

    @Option(name: .long, help: "Untimed repetitions before them.")
    var warmup = 2

    @Flag(name: .long, help: "Check every sum exactly (each rank's values are small integers); exit non-zero on a wrong one.")
    var check = false

    @Flag(name: .long, help: "Sum a model's gradients through gradient buckets, marked ready in backward order, instead of plain buffers.")
    var buckets = false

    @Option(name: .long, help: "The model whose gradients --buckets sums.")
    var model = "densenet-bc-40"

    @Option(name: .long, help: "Bucket size in MiB for --buckets.")
    var bucketMib: Double = Double(BucketLayout.defaultBucketBytes) / 1_048_576

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    /// For tests: this rank kills itself (SIGKILL) before the second timed repetition.
    @Option(name: .long, help: .hidden)
    var killRank: Int?

    func validate() throws {
        guard !mib.isEmpty, mib.allSatisfy({ $0 > 0 && $0 <= 4096 }) else { throw ValidationError("--mib takes sizes above 0 and up to 4096") }
        guard repetitions > 0, warmup >= 0 else { throw ValidationError("--repetitions must be at least 1 and --warmup at least 0") }
        guard bucketMib > 0 else { throw ValidationError("--bucket-mib must be above 0") }
    }

    /// What every rank must agree on.
    private var settings: [(name: String, value: String)] {
        [("mib", mib.map { String(format: "%g", $0) }.joined(separator: " ")), ("repetitions", "\(repetitions)"), ("warmup", "\(warmup)"),
         ("check", "\(check)"), ("buckets", "\(buckets)"), ("model", model), ("bucket-mib", String(format: "%g", bucketMib))]
    }

    func run() throws {
        let communicator = try openCommunicator()
        do {
            try communicator.checkSameSettings(settings)
            try measure(with: communicator)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            // An error every rank raised alike is printed by rank 0 alone, and the others wait for
            // it: mpirun ends the job as soon as one rank exits non-zero.
            let everyRank = (error as? MPIError)?.isRaisedByEveryRank == true
            let rank = communicator.rank
            if rank == 0 || !everyRank {
                FileHandle.standardError.write(Data("error: \(rank > 0 ? "rank \(rank): " : "")\(oneLine(error))\n".utf8))
            }
            if everyRank { try? communicator.barrier() }
            throw ExitCode(1)
        }
    }

    private func measure(with communicator: any Communicator) throws {
        let ranks = communicator.size
        struct Report: Codable {
            var ranks: Int
            var localRanks: Int
            var measurements: [AllreduceBenchmark.Measurement]
            var buckets: AllreduceBenchmark.BucketRun?
            var passed: Bool?
        }
        var report = Report(ranks: ranks, localRanks: communicator.localSize, measurements: [])
        let rank0 = communicator.rank == 0
        guard ranks > 1 else {
            if json { try printJSON(report) } else {
                print("ran on 1 rank: nothing crosses processes, so there is nothing to time; start it as `mpirun -np N cltrain bench allreduce`")
            }
            return
        }
        let bench = AllreduceBenchmark(communicator: communicator, repetitions: repetitions, warmup: warmup, check: check)
        if rank0 && !json {
            print("allreduce over \(ranks) ranks (\(communicator.localSize) on rank 0's machine), float32 sum in place; "
                  + "median of \(repetitions) after \(warmup) warm-up; busbw = 2(N-1)/N x bytes / time")
        }
        if buckets {
            let sizes = try ModelListing.parameterSizes(model, channels: 3, classes: 10).reversed()
            let run = try bench.measureBuckets(sizes: Array(sizes), bucketBytes: Int(bucketMib * 1_048_576))
            report.buckets = run
            report.passed = run.checked
            if rank0 && !json {
                print("\(model): \(run.gradients) gradients, \(String(format: "%.2f", Double(run.bytes) / 1_048_576)) MiB in \(run.buckets) buckets "
                      + "of up to \(String(format: "%g", bucketMib)) MiB: \(String(format: "%.3f", run.medianSeconds * 1e3)) ms per step"
                      + (run.checked.map { $0 ? ", check passed: every average exact" : ", check FAILED" } ?? ""))
            }
        } else {
            if rank0 && !json {
                print([lpad("MiB", 8), lpad("median ms", 11), lpad("min ms", 10), lpad("algbw GB/s", 11), lpad("busbw GB/s", 11)].joined(separator: " ")
                      + (check ? "  check" : ""))
            }
            for (index, size) in mib.enumerated() {
                let row = try bench.measure(bytes: Int(size * 1_048_576)) { repetition in
                    if index == 0, repetition == 1, let killRank, killRank == communicator.rank { killSelf(rank: killRank) }
                }
                report.measurements.append(row)
                if rank0 && !json {
                    print([lpad(String(format: "%g", size), 8), lpad(String(format: "%.3f", row.medianSeconds * 1e3), 11),
                           lpad(String(format: "%.3f", row.minimumSeconds * 1e3), 10),
                           lpad(String(format: "%.2f", row.algorithmGigabytesPerSecond), 11),
                           lpad(String(format: "%.2f", row.busGigabytesPerSecond), 11)].joined(separator: " ")
                          + (row.checked.map { $0 ? "  ok" : "  WRONG" } ?? ""))
                }
            }
            if check { report.passed = report.measurements.allSatisfy { $0.checked == true } }
        }
        if rank0 {
            if json { try printJSON(report) } else if check, !buckets {
                print(report.passed == true ? "check passed: every sum exact on every rank" : "check FAILED: a sum differs on some rank")
            }
        }
        if report.passed == false { throw ExitCode(1) }
    }

    /// The kill test's rank: say when, then die as a crashed or OOM-killed rank would.
    private func killSelf(rank: Int) -> Never {
        FileHandle.standardError.write(Data("rank \(rank) kills itself at \(String(format: "%.3f", Date().timeIntervalSince1970))\n".utf8))
        kill(getpid(), SIGKILL)
        fatalError("SIGKILL did not end the process")
    }
}
