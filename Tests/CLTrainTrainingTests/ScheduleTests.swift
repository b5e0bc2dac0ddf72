import Foundation
import XCTest
@testable import CLTrainTraining

/// The learning rate of every step against PyTorch's per-step schedulers (the fixture written by
/// scripts/make_schedule_fixtures.py), and the schedule flags' checks.
final class ScheduleTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var schedule: String
            var epochs: Int
            var stepsPerEpoch: Int
            var lr: Double
            var warmupEpochs: Double
            var minLR: Double
            var milestones: [Double]
            var warmupSteps: Int
            var milestoneSteps: [Int]
            var rates: [Double]
        }
        var warmupStartFactor: Double
        var cases: [Case]
    }

    func loadFixture() throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "schedules", withExtension: "json", subdirectory: "Fixtures"),
                                "the fixture is missing: run scripts/make_schedule_fixtures.py")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func testEveryStepsRateMatchesPyTorch() throws {
        let fixture = try loadFixture()
        XCTAssertEqual(fixture.warmupStartFactor, LearningRateCurve.warmupStartFactor)
        XCTAssertEqual(Set(fixture.cases.map(\.schedule)), Set(LearningRateSchedule.allCases.map(\.rawValue)))
        XCTAssertTrue(fixture.cases.contains { $0.epochs == 1 }, "a 1-epoch run is covered")
        var worst = 0.0, worstFloat = 0.0
        for c in fixture.cases {
            var o = TrainingOptions()
            o.schedule = try XCTUnwrap(LearningRateSchedule(rawValue: c.schedule))
            o.epochs = c.epochs
            o.learningRate = Float(c.lr)
            o.warmupEpochs = c.warmupEpochs
            o.minLearningRate = Float(c.minLR)
            o.milestones = c.milestones
            let name = "\(c.schedule) epochs \(c.epochs) x \(c.stepsPerEpoch) warm-up \(c.warmupEpochs) min-lr \(c.minLR)"
            XCTAssertNoThrow(try o.validate(), name)
            let curve = LearningRateCurve(options: o, stepsPerEpoch: c.stepsPerEpoch)
            XCTAssertEqual(curve.totalSteps, c.rates.count, name)
            XCTAssertEqual(curve.warmupSteps, c.warmupSteps, name)
            XCTAssertEqual(curve.milestones, c.milestoneSteps, name)
            for (step, expected) in c.rates.enumerated() {
                let rate = curve.rate(atStep: step)
                let relative = abs(rate - expected) / abs(expected)
                let relativeFloat = abs(Double(Float(rate)) - expected) / abs(expected)  // what the optimizer gets
                worst = max(worst, relative)
                worstFloat = max(worstFloat, relativeFloat)
                if relativeFloat > 1e-7 {
                    XCTFail("\(name): step \(step) has rate \(rate), PyTorch \(expected)")
                    break
                }
            }
            if c.epochs == 1, c.schedule != "constant" {
                XCTAssertLessThan(c.rates.last!, c.rates.max()!, "\(name): a 1-epoch run decays")
            }
        }
        print("schedule parity over \(fixture.cases.count) runs: max relative difference \(worst) (as Float: \(worstFloat))")
    }

    func testTheStepScheduleKeepsThePapersMilestonesInSteps() {
        var o = TrainingOptions()
        o.epochs = 1
        let curve = LearningRateCurve(options: o, stepsPerEpoch: 469)  // Fashion-MNIST, batch 64
        XCTAssertEqual(curve.milestones, [235, 352])  // ceil(469 / 2), ceil(3 x 469 / 4)
        XCTAssertEqual(curve.rate(atStep: 234), 0.1, accuracy: 1e-8)
        XCTAssertEqual(curve.rate(atStep: 235), 0.01, accuracy: 1e-8)
        XCTAssertEqual(curve.rate(atStep: 468), 0.001, accuracy: 1e-8)
        XCTAssertEqual("\(curve)", "step from 0.1 over 469 steps, x0.1 at steps 235, 352")
        o.schedule = .cosine
        o.warmupEpochs = 0.1
        o.minLearningRate = 0.001
        XCTAssertEqual("\(LearningRateCurve(options: o, stepsPerEpoch: 469))",
                       "cosine from 0.1 over 469 steps (the first 47 warming up from 0.001) to 0.001")
    }

    func testBadScheduleOptionsAreOneLineErrors() {
        func rejects(_ expected: String, _ change: (inout TrainingOptions) -> Void, line: UInt = #line) {
            var o = TrainingOptions()
            o.epochs = 4
            change(&o)
            XCTAssertThrowsError(try o.validate(), line: line) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)", line: line)
                XCTAssertFalse("\(error)".contains("\n"), line: line)
            }
        }
        rejects("--warmup-epochs") { $0.warmupEpochs = 4 }
        rejects("--warmup-epochs") { $0.warmupEpochs = -1 }
        rejects("--warmup-epochs") { $0.warmupEpochs = 2.5 }  // past step's first decay, at epoch 2
        rejects("--warmup-epochs") { $0.schedule = .multistep; $0.milestones = [1, 3]; $0.warmupEpochs = 1.5 }
        rejects("--min-lr") { $0.schedule = .cosine; $0.minLearningRate = 0.2 }
        rejects("--min-lr") { $0.schedule = .cosine; $0.minLearningRate = -0.1 }
        rejects("--schedule cosine") { $0.minLearningRate = 0.001 }
        rejects("--schedule multistep") { $0.milestones = [1, 2] }
        rejects("needs --milestones") { $0.schedule = .multistep }
        rejects("must increase") { $0.schedule = .multistep; $0.milestones = [2, 1] }
        rejects("must increase") { $0.schedule = .multistep; $0.milestones = [2, 2] }
        rejects("inside the run") { $0.schedule = .multistep; $0.milestones = [1, 4] }
        rejects("inside the run") { $0.schedule = .multistep; $0.milestones = [0, 1] }

        var o = TrainingOptions()
        o.epochs = 4
        o.schedule = .multistep
        o.milestones = [0.5, 2, 3.25]
        o.warmupEpochs = 0.5
        XCTAssertNoThrow(try o.validate())
        o = TrainingOptions()
        o.schedule = .cosine
        o.minLearningRate = o.learningRate
        XCTAssertNoThrow(try o.validate())
    }

    func testOptionsWrittenBeforeTheScheduleFlagsStillDecode() throws {
        // A checkpoint's settings as written before --warmup-epochs, --min-lr and --milestones.
        var o = TrainingOptions()
        o.schedule = .cosine
        o.epochs = 7
        var fields = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(o)) as? [String: Any])
        for key in ["warmupEpochs", "minLearningRate", "milestones"] {
            XCTAssertNotNil(fields.removeValue(forKey: key), key)
        }
        let old = try JSONSerialization.data(withJSONObject: fields)
        XCTAssertEqual(try JSONDecoder().decode(TrainingOptions.self, from: old), o)

        o.warmupEpochs = 0.25
        o.minLearningRate = 1e-3
        o.milestones = [2, 4.5]
        XCTAssertEqual(try JSONDecoder().decode(TrainingOptions.self, from: JSONEncoder().encode(o)), o)
        fields.removeValue(forKey: "model")
        XCTAssertThrowsError(try JSONDecoder().decode(TrainingOptions.self, from: JSONSerialization.data(withJSONObject: fields)),
                             "a field that always existed is still required")
    }
}
