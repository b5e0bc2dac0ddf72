import Foundation

/// The shape of the learning-rate curve over a run.
public enum LearningRateSchedule: String, CaseIterable, Sendable, Codable {
    /// Multiplied by 0.1 at 50% and 75% of the run's steps (the DenseNet paper's recipe).
    case step
    /// Multiplied by 0.1 at each of `TrainingOptions.milestones` (in epochs).
    case multistep
    /// Cosine annealing from the base rate to `TrainingOptions.minLearningRate` at the run's end.
    case cosine
    case constant
}

/// The learning rate of every step of a run: a pure function of the step, so a resumed run
/// continues on the same curve. Each schedule matches PyTorch's per-step scheduler, stepped once
/// after every optimizer step:
/// - warm-up (`--warmup-epochs`): `LinearLR(start_factor: 0.01, total_iters: W)`, chained to the
///   main schedule by `SequentialLR(milestones: [W])` (torchvision's reference recipe,
///   `--lr-warmup-method linear --lr-warmup-decay 0.01`); LinearLR refuses a start factor of 0;
/// - step and multistep: `MultiStepLR(gamma: 0.1)`, its milestones counted from the run's first
///   step (in the SequentialLR chain: each milestone minus W);
/// - cosine: `CosineAnnealingLR(T_max: total - W, eta_min: min-lr)`: it starts after the warm-up
///   and reaches its floor at the run's end;
/// - constant: the base rate after the warm-up.
///
/// The run's length is epochs x batches per epoch. `--steps N` stops a run early without bending
/// the curve: its N steps have the rates of the first N steps of the whole run. A finished run
/// extended by `--resume DIR --epochs N` keeps its curve too: past the curve's end every step
/// takes its last rate (step and multistep: after the last decay; cosine: the floor; constant:
/// the base rate). A position of E
/// epochs (a milestone, the warm-up's end) is step ceil(E x batches per epoch), the first step at
/// or after it.
public struct LearningRateCurve: Equatable, Sendable {
    public static let gamma = 0.1
    /// The warm-up's first rate, as a fraction of the base rate.
    public static let warmupStartFactor = 0.01

    public var schedule: LearningRateSchedule
    public var base: Double
    /// Steps of the whole run: epochs x batches per epoch.
    public var totalSteps: Int
    /// Steps of linear warm-up; the rate reaches `base` at this step.
    public var warmupSteps: Int
    /// Steps from which the rate is multiplied by another `gamma` (step and multistep).
    public var milestones: [Int]
    /// Cosine's floor.
    public var minimum: Double

    public init(schedule: LearningRateSchedule, base: Double, totalSteps: Int, warmupSteps: Int = 0,
                milestones: [Int] = [], minimum: Double = 0) {
        self.schedule = schedule
        self.base = base
        self.totalSteps = totalSteps
        self.warmupSteps = warmupSteps
        self.milestones = milestones
        self.minimum = minimum
    }

    /// The curve of a run with these options and `stepsPerEpoch` batches in each epoch. A run
    /// extended past its planned epochs keeps the curve of those (`scheduleEpochs`); its added
    /// steps take the rate the curve ends with.
    public init(options o: TrainingOptions, stepsPerEpoch: Int) {
        let total = (o.scheduleEpochs ?? o.epochs) * stepsPerEpoch
        var milestones: [Int] = []
        switch o.schedule {
        case .step: milestones = [(total + 1) / 2, (3 * total + 3) / 4]  // ceil(T/2), ceil(3T/4), in integers
        case .multistep: milestones = o.milestones.map { Self.step(atEpoch: $0, stepsPerEpoch: stepsPerEpoch) }
        case .cosine, .constant: break
        }
        self.init(schedule: o.schedule, base: Double(o.learningRate), totalSteps: total,
                  warmupSteps: Self.step(atEpoch: o.warmupEpochs, stepsPerEpoch: stepsPerEpoch),
                  milestones: milestones, minimum: o.schedule == .cosine ? Double(o.minLearningRate) : 0)
    }

    /// The first step at or after `epoch` epochs: ceil(epoch x stepsPerEpoch), forgiving the
    /// rounding of a product like 0.3 x 10.
    public static func step(atEpoch epoch: Double, stepsPerEpoch: Int) -> Int {
        Int((epoch * Double(stepsPerEpoch) - 1e-9).rounded(.up))
    }

    /// The rate of step `step` (0-based: the rate the step's update uses).
    public func rate(atStep step: Int) -> Double {
        if step < warmupSteps {
            let factor = Self.warmupStartFactor + (1 - Self.warmupStartFactor) * Double(step) / Double(warmupSteps)
            return base * factor
        }
        switch schedule {
        case .constant:
            return base
        case .step, .multistep:
            let passed = milestones.filter { step >= $0 }.count
            return base * pow(Self.gamma, Double(passed))
        case .cosine:
            let length = max(totalSteps - warmupSteps, 1)
            let t = Double(min(step - warmupSteps, length)) / Double(length)
            return minimum + (base - minimum) * 0.5 * (1 + cos(Double.pi * t))
        }
    }
}

extension LearningRateCurve: CustomStringConvertible {
    /// "step from 0.1 over 938 steps, x0.1 at steps 469, 704", for the run's log.
    public var description: String {
        var text = "\(schedule.rawValue) from \(Float(base)) over \(totalSteps) steps"
        if warmupSteps > 0 { text += " (the first \(warmupSteps) warming up from \(Float(base * Self.warmupStartFactor)))" }
        switch schedule {
        case .step, .multistep: text += ", x\(Self.gamma) at steps " + milestones.map(String.init).joined(separator: ", ")
        case .cosine: text += " to \(Float(minimum))"
        case .constant: break
        }
        return text
    }
}
