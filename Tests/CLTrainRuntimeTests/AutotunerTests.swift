import CLTrainRuntime
import CLTrainTestSupport
import Foundation
import XCTest

/// The autotuner's policy with fake candidates (no device): which modes time what, what the cache
/// file keeps, and what happens when a candidate fails or the file cannot be trusted.
final class AutotunerTests: XCTestCase {
    struct Refused: Error, CustomStringConvertible {
        var name: String
        var description: String { "\(name) refused: CL_INVALID_WORK_GROUP_SIZE" }
    }

    /// Candidates that count their runs; `slow` sleeps, `fast` returns at once, names in `failing`
    /// throw.
    final class Fakes {
        var runs: [String: Int] = [:]
        var failing: Set<String> = []
        var total: Int { runs.values.reduce(0, +) }

        func run(_ name: String) throws {
            runs[name, default: 0] += 1
            if failing.contains(name) { throw Refused(name: name) }
            if name == "slow" { usleep(2_000) }
        }

        func choose(_ tuner: Autotuner, _ problem: TuningProblem, _ candidates: [String] = ["slow", "fast"]) throws -> String {
            try tuner.choose(problem, candidates: candidates, run: run, synchronize: {})
        }
    }

    let conv = TuningProblem(op: "conv2d-forward", shape: "n2 1x8x8 -> 4x8x8 k3x3")
    let other = TuningProblem(op: "conv2d-backward-weight", shape: "n2 4x8x8 -> 4x8x8 k1x1")

    func testOffTakesTheRuleAndRunsNothing() throws {
        let directory = try makeTemporaryDirectory()
        let tuner = Autotuner(mode: .off, deviceKey: "gpu", directory: directory)
        let fakes = Fakes()
        XCTAssertEqual(try fakes.choose(tuner, conv), "slow")
        XCTAssertEqual(fakes.total, 0)
        XCTAssertEqual(tuner.decisions.map(\.source), [.rule])
        XCTAssertEqual(tuner.measuredCount, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tuner.file!.path), "off wrote a cache file")
    }

    func testCachedMeasuresOnceAndASecondTunerReadsTheChoice() throws {
        let directory = try makeTemporaryDirectory()
        let first = Autotuner(mode: .cached, deviceKey: "gpu", directory: directory)
        let fakes = Fakes()
        XCTAssertEqual(try fakes.choose(first, conv), "fast")
        let runs = fakes.total
        XCTAssertGreaterThanOrEqual(runs, 4, "each candidate runs untimed once, then is timed")
        XCTAssertEqual(try fakes.choose(first, conv), "fast")
        XCTAssertEqual(fakes.total, runs, "the same problem is timed once per process")
        let decision = try XCTUnwrap(first.decisions.first)
        XCTAssertEqual(decision.source, .measured)
        XCTAssertEqual(Set(decision.milliseconds.keys), ["slow", "fast"])
        XCTAssertEqual(decision.runnerUp?.name, "slow")
        XCTAssertEqual(first.measuredCount, 1)

        let second = Autotuner(mode: .cached, deviceKey: "gpu", directory: directory)
        XCTAssertEqual(try fakes.choose(second, conv), "fast")
        XCTAssertEqual(fakes.total, runs, "a second start in cached mode runs nothing")
        XCTAssertEqual(second.decisions.map(\.source), [.cached])
        XCTAssertEqual(second.measuredCount, 0)
        XCTAssertNil(second.decisions[0].runnerUp)
    }

    func testFullMeasuresAgainAndKeepsOtherShapesInTheFile() throws {
        let directory = try makeTemporaryDirectory()
        let fakes = Fakes()
        let first = Autotuner(mode: .cached, deviceKey: "gpu", directory: directory)
        _ = try fakes.choose(first, conv)
        _ = try fakes.choose(first, other)

        // Full times conv again although the file holds its choice, and saves.
        let full = Autotuner(mode: .full, deviceKey: "gpu", directory: directory)
        fakes.runs = [:]
        XCTAssertEqual(try fakes.choose(full, conv), "fast")
        XCTAssertGreaterThan(fakes.total, 0)
        XCTAssertEqual(full.decisions.map(\.source), [.measured])
        XCTAssertEqual(full.measuredCount, 1)

        let third = Autotuner(mode: .cached, deviceKey: "gpu", directory: directory)
        fakes.runs = [:]
        XCTAssertEqual(try fakes.choose(third, conv), "fast")
        XCTAssertEqual(try fakes.choose(third, other), "fast")
        XCTAssertEqual(fakes.total, 0, "full mode's save kept the shape it did not meet")
        XCTAssertEqual(third.decisions.map(\.source), [.cached, .cached])
    }

    func testSavesMergeWithWhatAnotherTunerWrote() throws {
        let directory = try makeTemporaryDirectory()
        let fakes = Fakes()
        // Two processes started on the same empty cache; each tunes a different shape.
        let a = Autotuner(mode: .cached, deviceKey: "gpu", directory: directory)
        let b = Autotuner(mode: .cached, deviceKey: "gpu", directory: directory)
        _ = try fakes.choose(a, conv)
        _ = try fakes.choose(b, other)
        let later = Autotuner(mode: .cached, deviceKey: "gpu", directory: directory)
        fakes.runs = [:]
        _ = try fakes.choose(later, conv)
        _ = try fakes.choose(later, other)
        XCTAssertEqual(fakes.total, 0)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".tmp") }
        XCTAssertEqual(leftovers, [], "a temporary file was left behind")
    }

    func testPinningTakesTheCandidateAndRunsNothing() throws {
        let tuner = Autotuner(mode: .full, deviceKey: "gpu", directory: nil)
        let fakes = Fakes()
        let pinned = try tuner.pinning("slow") { try fakes.choose(tuner, conv) }
        XCTAssertEqual(pinned, "slow")
        XCTAssertEqual(fakes.total, 0)
        XCTAssertEqual(tuner.decisions, [], "a pinned run decides nothing")
        XCTAssertEqual(try fakes.choose(tuner, conv), "fast", "pinning ends with its body")
    }

    func testPreferringTakesTheCandidateWhereOfferedAndChoosesElsewhere() throws {
        let tuner = Autotuner(mode: .off, deviceKey: "gpu", directory: nil)
        let fakes = Fakes()
        try tuner.preferring("fast") {
            XCTAssertEqual(try fakes.choose(tuner, conv), "fast", "offered: taken, though the rule is slow")
            XCTAssertEqual(try fakes.choose(tuner, other, ["slow"]), "slow", "not offered: the rule")
        }
        XCTAssertEqual(fakes.total, 0)
        XCTAssertEqual(try fakes.choose(tuner, conv), "slow", "preferring ends with its body")
    }

    func testProblemsInListsEachProblemWithItsCandidates() throws {
        let tuner = Autotuner(mode: .off, deviceKey: "gpu", directory: nil)
        let fakes = Fakes()
        let met = try tuner.problems {
            _ = try fakes.choose(tuner, conv)
            _ = try fakes.choose(tuner, other, ["fast"])
            _ = try fakes.choose(tuner, conv)
        }
        XCTAssertEqual(met, [conv: ["slow", "fast"], other: ["fast"]])
        XCTAssertEqual(try tuner.problems {}, [:])
    }

    /// The machine runs slow for a stretch (runs 1 to 3 of the process, 10 ms longer each) that
    /// took most of the first candidate's timed runs when candidates were timed one after the
    /// other: timed in rounds, each candidate meets it once and the faster one still wins.
    func testASlowStretchOfTheMachineDoesNotDecide() throws {
        let tuner = Autotuner(mode: .full, deviceKey: "cpu", directory: nil)
        var count = 0
        let choice = try tuner.choose(conv, candidates: ["quick", "slower"], run: { name in
            let slowStretch = (1...3).contains(count) ? 10_000 : 0
            count += 1
            usleep(useconds_t((name == "quick" ? 2_000 : 5_000) + slowStretch))
        }, synchronize: {})
        XCTAssertEqual(choice, "quick", "\(tuner.decisions.first?.milliseconds ?? [:])")
    }

    func testAThrowingCandidateIsSkipped() throws {
        let directory = try makeTemporaryDirectory()
        let fakes = Fakes()
        fakes.failing = ["fast"]
        let tuner = Autotuner(mode: .cached, deviceKey: "gpu", directory: directory)
        XCTAssertEqual(try fakes.choose(tuner, conv, ["fast", "slow"]), "slow")
        let decision = try XCTUnwrap(tuner.decisions.first)
        XCTAssertEqual(decision.source, .measured)
        XCTAssertEqual(Array(decision.milliseconds.keys), ["slow"])
        XCTAssertEqual(Array(decision.unavailable.keys), ["fast"])
        XCTAssertTrue(decision.unavailable["fast"]!.contains("CL_INVALID_WORK_GROUP_SIZE"))
        XCTAssertEqual(fakes.runs["fast"], 1, "a failing candidate is not retried")
        XCTAssertNil(decision.runnerUp)
    }

    func testEveryCandidateThrowingRethrowsTheFirstError() throws {
        let directory = try makeTemporaryDirectory()
        let fakes = Fakes()
        fakes.failing = ["slow", "fast"]
        let tuner = Autotuner(mode: .cached, deviceKey: "gpu", directory: directory)
        XCTAssertThrowsError(try fakes.choose(tuner, conv)) { error in
            XCTAssertEqual((error as? Refused)?.name, "slow")
        }
        XCTAssertEqual(tuner.decisions, [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: tuner.file!.path))
    }

    func testACorruptFileIsIgnoredAndReplaced() throws {
        let directory = try makeTemporaryDirectory()
        let file = try XCTUnwrap(Autotuner(mode: .cached, deviceKey: "gpu", directory: directory).file)
        try Data("{\"device\": \"gpu\", \"choices\": {\"conv".utf8).write(to: file)
        let fakes = Fakes()
        let tuner = Autotuner(mode: .cached, deviceKey: "gpu", directory: directory)
        XCTAssertEqual(try fakes.choose(tuner, conv), "fast")
        XCTAssertEqual(tuner.decisions.map(\.source), [.measured])
        fakes.runs = [:]
        _ = try fakes.choose(Autotuner(mode: .cached, deviceKey: "gpu", directory: directory), conv)
        XCTAssertEqual(fakes.total, 0, "the corrupt file was replaced by a good one")
    }

    func testAnotherDevicesFileIsIgnored() throws {
        let directory = try makeTemporaryDirectory()
        let file = try XCTUnwrap(Autotuner(mode: .cached, deviceKey: "gpu", directory: directory).file)
        let foreign = ["device": "another gpu", "choices": [conv.description: "slow"]] as [String: Any]
        try JSONSerialization.data(withJSONObject: foreign).write(to: file)
        let fakes = Fakes()
        let tuner = Autotuner(mode: .cached, deviceKey: "gpu", directory: directory)
        XCTAssertEqual(try fakes.choose(tuner, conv), "fast")
        XCTAssertEqual(tuner.decisions.map(\.source), [.measured])
    }

    func testAStoredChoiceNoLongerOfferedIsTunedAgain() throws {
        let directory = try makeTemporaryDirectory()
        let file = try XCTUnwrap(Autotuner(mode: .cached, deviceKey: "gpu", directory: directory).file)
        let stale = ["device": "gpu", "choices": [conv.description: "retired", other.description: "slow"]] as [String: Any]
        try JSONSerialization.data(withJSONObject: stale).write(to: file)
        let fakes = Fakes()
        let tuner = Autotuner(mode: .cached, deviceKey: "gpu", directory: directory)
        XCTAssertEqual(try fakes.choose(tuner, conv), "fast")
        XCTAssertEqual(try fakes.choose(tuner, other), "slow", "the other entry is still trusted")
        XCTAssertEqual(tuner.decisions.map(\.source), [.measured, .cached])
    }
}
