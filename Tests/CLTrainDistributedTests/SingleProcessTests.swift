@testable import CLTrainDistributed
import XCTest

final class SingleProcessTests: XCTestCase {
    func testEveryCollectiveIsTheIdentity() throws {
        let one = SingleProcess()
        XCTAssertEqual([one.rank, one.size, one.localRank, one.localSize], [0, 1, 0, 1])
        var floats: [Float] = [1.5, -2, 3]
        try floats.withUnsafeMutableBufferPointer { try one.allreduceSum($0) }
        XCTAssertEqual(floats, [1.5, -2, 3])
        try floats.withUnsafeMutableBufferPointer { buffer in
            let pending = try one.startAllreduceSum(buffer)
            XCTAssertTrue(try pending.test())
            try pending.wait()
        }
        XCTAssertEqual(floats, [1.5, -2, 3])
        XCTAssertEqual(try one.sum([0.1, 2]), [0.1, 2])
        XCTAssertEqual(try one.broadcast([1, 2, 3]), [1, 2, 3])
        XCTAssertEqual(try one.allgather("settings"), ["settings"])
        try one.barrier()
        try one.checkSameSettings([("model", "densenet-bc-40")])
    }

    func testBucketsOfOneProcessHandBackTheGradientsAsGiven() throws {
        let sizes = [3, 5, 1, 4]
        let buckets = GradientBuckets(sizes: sizes, bucketBytes: 24, communicator: SingleProcess())
        XCTAssertEqual(buckets.layout.buckets.count, 3)
        for step in 0..<2 {  // a second step reuses the same buffers
            let gradients = sizes.enumerated().map { g, size in (0..<size).map { Float(g * 10 + $0 + step) * 0.1 } }
            // Out of order: bucket 1 completes before bucket 0 and waits for it.
            for g in [2, 3, 1] { try buckets.markReady(index: g, values: gradients[g]) }
            // Gradient 0 written in place, as a device read would.
            _ = buckets.staging(0).initialize(from: gradients[0])
            try buckets.markReady(index: 0)
            try buckets.finish()
            for g in sizes.indices { XCTAssertEqual(Array(buckets.gradient(g)), gradients[g]) }
        }
    }
}

final class LaunchTests: XCTestCase {
    func testOnlyALauncherMeansMPI() throws {
        XCTAssertEqual(try Launch.detect([:]), .single)
        XCTAssertEqual(try Launch.detect(["OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "1"]),
                       .mpi(launcher: "mpirun", expectedSize: 4))
        XCTAssertEqual(try Launch.detect(["PMIX_RANK": "2", "SLURM_STEP_NUM_TASKS": "8", "SLURM_PROCID": "2"]),
                       .mpi(launcher: "srun", expectedSize: 8))
        XCTAssertEqual(try Launch.detect(["PMIX_RANK": "0"]), .mpi(launcher: "a PMIx launcher", expectedSize: nil))
        // An sbatch script that runs cltrain itself has these, and is one process.
        XCTAssertEqual(try Launch.detect(["SLURM_NTASKS": "4", "SLURM_PROCID": "0", "SLURM_LOCALID": "0"]), .single)
        XCTAssertEqual(try Launch.detect(["SLURM_STEP_NUM_TASKS": "1"]), .single)
    }

    func testSrunWithoutPMIxIsRefusedInOneLine() {
        XCTAssertThrowsError(try Launch.detect(["SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "1"])) { error in
            let text = "\(error)"
            XCTAssert(text.contains("srun --mpi=pmix"), text)
            XCTAssertFalse(text.contains("\n"))
        }
    }

    func testWithoutALauncherTheCommunicatorIsOneProcess() throws {
        XCTAssert(try communicatorFromEnvironment([:]) is SingleProcess)
    }
}

final class SettingsCheckTests: XCTestCase {
    func testTheFirstDifferingFieldOfTheLowestRankIsNamed() {
        let zero = [["model", "densenet-bc-40"], ["batch-size", "64"], ["seed", "1"]]
        var two = zero
        two[2] = ["seed", "2"]
        var one = zero
        one[1] = ["batch-size", "32"]
        XCTAssertNil(firstDifference([zero, zero, zero]))
        XCTAssertEqual(firstDifference([zero, zero, two]), .settingsDiffer(rank: 2, field: "seed", value: "2", rankZeroValue: "1"))
        XCTAssertEqual(firstDifference([zero, one, two]), .settingsDiffer(rank: 1, field: "batch-size", value: "32", rankZeroValue: "64"))
        XCTAssertEqual(firstDifference([zero, Array(zero.prefix(2))]),
                       .settingsDiffer(rank: 1, field: "seed", value: "(missing)", rankZeroValue: "1"))
        let error = MPIError.settingsDiffer(rank: 1, field: "batch-size", value: "32", rankZeroValue: "64")
        XCTAssertEqual(error.description, "rank 1 runs with batch-size = 32 but rank 0 with 64: start every rank with the same settings, model and data")
        XCTAssertTrue(error.isRaisedByEveryRank)
    }
}
