import CLTrainRuntime
import CLTrainTestSupport
import Foundation
import XCTest
import CLTrainTraining

/// `ModelTuning`, the use case of `cltrain tune`: every convolution of a training step meets the
/// tuner, and a second start on the same cache reuses every choice without timing.
final class ModelTuningTests: XCTestCase {
    func testTheCPUWithTuningOffTakesEveryRule() throws {
        let report = try ModelTuning.run(model: "densenet-bc-10-k4", batchSize: 2, channels: 1, height: 8, width: 8, classes: 10,
                                         on: Device(backend: CPUBackend()))
        XCTAssertEqual(report.mode, .off)
        XCTAssertGreaterThan(report.decisions.count, 10)
        XCTAssertTrue(report.decisions.allSatisfy { $0.source == .rule && $0.milliseconds.isEmpty })
        XCTAssertEqual(report.measuredCount, 0)
    }

    func testTheCPUTunesOnceThenReusesTheCache() throws {
        let directory = try makeTemporaryDirectory()
        func tune(_ mode: TuneMode) throws -> ModelTuning.Report {
            try ModelTuning.run(model: "densenet-bc-10-k4", batchSize: 2, channels: 1, height: 8, width: 8, classes: 10,
                                on: Device(backend: CPUBackend(tune: mode, cacheDirectory: directory)))
        }
        let first = try tune(.cached)
        XCTAssertEqual(first.measuredCount, first.decisions.filter { $0.source == .measured }.count)
        XCTAssertGreaterThan(first.measuredCount, 0)
        let second = try tune(.cached)
        XCTAssertEqual(second.measuredCount, 0, "a second start reads every choice from the cache")
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: first.decisions.map { ($0.problem, $0.choice) }),
                       Dictionary(uniqueKeysWithValues: second.decisions.map { ($0.problem, $0.choice) }))
    }

    func testUnknownModelIsAUsageError() {
        assertOneLineError(UsageError.self, try ModelTuning.run(model: "densenet-nope", batchSize: 2, channels: 1, height: 8, width: 8,
                                                                classes: 10, on: Device(backend: CPUBackend())),
                           mentions: ["densenet-nope", "cltrain models"]) { _ in true }
    }

    func testOpenCLTunesOnceThenReusesTheCache() throws {
        guard let entry = try? OpenCLPlatforms.devices().first else { throw XCTSkip("no OpenCL platform found: skipping the tuning test") }
        // A cache of its own, seeded with the compiled programs of the default one (not its tuning
        // files): only the tuning starts empty, and PoCL need not compile every kernel again.
        let directory = try makeTemporaryDirectory()
        let programs = OpenCLProgramCache.defaultDirectory()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: programs.path)) ?? [] where name.hasSuffix(".bin") {
            try? FileManager.default.copyItem(at: programs.appendingPathComponent(name), to: directory.appendingPathComponent(name))
        }
        func tune(_ mode: TuneMode) throws -> ModelTuning.Report {
            let device = Device(backend: try OpenCLBackend(entry: entry, cacheDirectory: directory, tune: mode))
            return try ModelTuning.run(model: "densenet-bc-10-k4", batchSize: 2, channels: 1, height: 8, width: 8, classes: 10,
                                       on: device)
        }
        let first = try tune(.cached)
        XCTAssertEqual(first.mode, .cached)
        let problems = Set(first.decisions.map(\.problem))
        XCTAssertEqual(problems.count, first.decisions.count, "each problem is reported once")
        // Three blocks of one bottleneck layer, two transitions and the stem: 9 convolutions,
        // each with a forward, an input gradient (not the stem's) and a weight gradient.
        XCTAssertEqual(first.decisions.count, 26)
        XCTAssertEqual(first.measuredCount, first.decisions.count, "a new cache times every shape")
        for decision in first.decisions {
            XCTAssertNotNil(decision.milliseconds[decision.choice], "\(decision.problem): the choice was timed")
            XCTAssertGreaterThan(decision.milliseconds.count, 1, "\(decision.problem): candidates were compared")
        }

        let second = try tune(.cached)
        XCTAssertEqual(Set(second.decisions.map(\.problem)), problems)
        XCTAssertEqual(second.measuredCount, 0)
        XCTAssertTrue(second.decisions.allSatisfy { $0.source == .cached }, "\(second.decisions.map(\.source))")
        let chosen = Dictionary(uniqueKeysWithValues: first.decisions.map { ($0.problem, $0.choice) })
        for decision in second.decisions { XCTAssertEqual(decision.choice, chosen[decision.problem], "\(decision.problem)") }

        let off = try tune(.off)
        XCTAssertTrue(off.decisions.allSatisfy { $0.source == .rule })
        XCTAssertEqual(off.decisions.count, first.decisions.count)
    }
}
