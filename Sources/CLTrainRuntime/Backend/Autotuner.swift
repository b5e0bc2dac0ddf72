import Foundation

/// How a backend chooses among its algorithms for an op at a shape (`--tune`).
public enum TuneMode: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    /// Never time anything: each op takes its backend's rule (the first candidate).
    case off
    /// Time a shape the first time it is met, keep the winner on disk, and reuse it on every later
    /// start: a second start tunes nothing.
    case cached
    /// Time every shape again (once per process) and replace what the disk holds.
    case full

    public init(parsing text: String) throws {
        guard let mode = TuneMode(rawValue: text.lowercased()) else { throw TuneModeError(text: text) }
        self = mode
    }

    public var description: String { rawValue }
}

public struct TuneModeError: Error, CustomStringConvertible {
    public let text: String
    public var description: String { "unknown tuning mode '\(text)': use off, cached or full" }
}

/// One op at one shape: what the tuner keys its choices by (with the device, in the cache file's
/// name). `shape` is the op's whole problem as text: sizes, geometry, and flags such as a fused
/// input normalisation or accumulation, anything that may change which candidate is fastest.
public struct TuningProblem: Hashable, Sendable, Codable, CustomStringConvertible {
    public var op: String
    public var shape: String

    public init(op: String, shape: String) {
        self.op = op
        self.shape = shape
    }

    public var description: String { "\(op) \(shape)" }
}

/// What the tuner chose for one problem, and why: `cltrain tune` prints these.
public struct TuningDecision: Sendable, Codable, Equatable {
    public var problem: TuningProblem
    public var choice: String
    /// Median milliseconds of each candidate timed (empty when the choice came from the cache or the
    /// rule); a candidate dropped early for being far slower than the best has its first time.
    public var milliseconds: [String: Double]
    /// Candidates whose run failed while being timed (the driver refused the kernel, resources ran
    /// out), each with its error as one line: never chosen.
    public var unavailable: [String: String]
    /// How the choice was made.
    public var source: Source
    /// Seconds spent timing (0 for cached and rule choices).
    public var tuneSeconds: Double

    public enum Source: String, Sendable, Codable { case measured, cached, rule }

    public init(problem: TuningProblem, choice: String, milliseconds: [String: Double] = [:], unavailable: [String: String] = [:],
                source: Source, tuneSeconds: Double = 0) {
        self.problem = problem
        self.choice = choice
        self.milliseconds = milliseconds
        self.unavailable = unavailable
        self.source = source
        self.tuneSeconds = tuneSeconds
    }

    /// The fastest timed candidate other than the choice, with its milliseconds (nil when fewer
    /// than two were timed).
    public var runnerUp: (name: String, milliseconds: Double)? {
        milliseconds.filter { $0.key != choice }.min { ($0.value, $0.key) < ($1.value, $1.key) }.map { ($0.key, $0.value) }
    }
}

/// Chooses, for each (op, shape) on one device, the fastest of a backend's candidates by timing
/// them on the device itself, and remembers the winners in a JSON file beside the compiled
/// programs. Backend-neutral: the backend names its candidates and runs one when asked; the
/// tuner owns the timing policy, the cache and the decisions.
///
/// Every candidate computes the same result up to float rounding (the kernel checks prove it), so a
/// choice changes speed only.
public final class Autotuner: @unchecked Sendable {
    public let mode: TuneMode
    /// The cache file; nil keeps choices in memory only.
    public let file: URL?
    private let deviceKey: String
    private let lock = NSLock()
    /// The cache file's choices when this tuner started (what `cached` reuses).
    private var stored: [String: String] = [:]
    /// The choices this process measured: what a save adds to the file.
    private var measuredChoices: [String: String] = [:]
    private var decided: [TuningProblem: TuningDecision] = [:]
    private var order: [TuningProblem] = []
    private var pinned: String?
    private var preferred: String?
    private var recording: [TuningProblem: [String]]?

    /// `deviceKey` names the device, its driver and the candidates' code (a new driver or new
    /// kernels tune again); the file is `directory/tuning-<hash of deviceKey>.json`. A file that
    /// does not parse or belongs to another key is ignored (its shapes are tuned again).
    public init(mode: TuneMode, deviceKey: String, directory: URL?) {
        self.mode = mode
        self.deviceKey = deviceKey
        self.file = directory.map { $0.appendingPathComponent("tuning-\(Self.hash(deviceKey)).json") }
        if mode != .off { stored = readFile() }
    }

    /// A tuner that never measures: every op takes its rule.
    public static func off() -> Autotuner { Autotuner(mode: .off, deviceKey: "", directory: nil) }

    /// The choices made so far in this process, in the order the problems were met.
    public var decisions: [TuningDecision] {
        lock.lock(); defer { lock.unlock() }
        return order.compactMap { decided[$0] }
    }

    /// How many problems this process timed (a second start in `cached` mode times none).
    public var measuredCount: Int {
        lock.lock(); defer { lock.unlock() }
        return decided.values.filter { $0.source == .measured }.count
    }

    /// The candidate `problem` runs with. `candidates` lists every algorithm the backend may run it
    /// with, its rule first; `run(name)` enqueues the problem once with that candidate (into scratch
    /// outputs: the caller runs the winner for real afterwards) and `synchronize` waits for the
    /// device. A candidate whose run or wait throws while timed is left out (see
    /// `TuningDecision.unavailable`); when every candidate throws, the first error is rethrown.
    public func choose(_ problem: TuningProblem, candidates: [String], run: (String) throws -> Void,
                       synchronize: () throws -> Void) throws -> String {
        precondition(!candidates.isEmpty, "no candidate for \(problem)")
        lock.lock()
        recording?[problem] = candidates
        if let pinned {
            lock.unlock()
            precondition(candidates.contains(pinned), "candidate \(pinned) is not one of \(problem)'s: \(candidates)")
            return pinned
        }
        if let preferred, candidates.contains(preferred) {
            lock.unlock()
            return preferred
        }
        if let decision = decided[problem], candidates.contains(decision.choice) {
            lock.unlock()
            return decision.choice
        }
        if candidates.count == 1 || mode == .off {
            record(TuningDecision(problem: problem, choice: candidates[0], source: .rule))
            lock.unlock()
            return candidates[0]
        }
        if mode == .cached, let choice = stored[problem.description], candidates.contains(choice) {
            record(TuningDecision(problem: problem, choice: choice, source: .cached))
            lock.unlock()
            return choice
        }
        lock.unlock()

        let start = Date()
        let (times, unavailable, firstError) = measure(candidates, run: run, synchronize: synchronize)
        guard let choice = candidates.filter({ times[$0] != nil }).min(by: { times[$0]! < times[$1]! }) else {
            throw firstError!
        }
        let decision = TuningDecision(problem: problem, choice: choice, milliseconds: times, unavailable: unavailable,
                                      source: .measured, tuneSeconds: Date().timeIntervalSince(start))
        lock.lock()
        defer { lock.unlock() }
        record(decision)
        measuredChoices[problem.description] = choice
        save()
        return choice
    }

    /// Whether choices are being pinned or recorded (`pinning`, `problems(in:)`): a caller that
    /// remembers choices must ask the tuner each time then.
    public var isSteered: Bool {
        lock.lock()
        defer { lock.unlock() }
        return pinned != nil || preferred != nil || recording != nil
    }

    /// Run `body` with every problem taking `candidate` (which must be one of its candidates): how the
    /// checks run each configuration the tuner may pick. Nil restores normal choosing.
    public func pinning<R>(_ candidate: String?, _ body: () throws -> R) rethrows -> R {
        try overriding(\.pinned, with: candidate, body)
    }

    /// Run `body` with every problem that offers `candidate` taking it, and the others choosing as
    /// usual: how the parity checks run a whole model with one algorithm wherever it applies.
    public func preferring<R>(_ candidate: String, _ body: () throws -> R) rethrows -> R {
        try overriding(\.preferred, with: candidate, body)
    }

    /// `body` run with `setting` holding `value`, the previous value restored afterwards.
    private func overriding<R>(_ setting: ReferenceWritableKeyPath<Autotuner, String?>, with value: String?,
                               _ body: () throws -> R) rethrows -> R {
        lock.lock()
        let previous = self[keyPath: setting]
        self[keyPath: setting] = value
        lock.unlock()
        defer {
            lock.lock()
            self[keyPath: setting] = previous
            lock.unlock()
        }
        return try body()
    }

    /// The problems `body` met, each with its candidates (rule first).
    public func problems(in body: () throws -> Void) rethrows -> [TuningProblem: [String]] {
        lock.lock()
        let previous = recording
        recording = [:]
        lock.unlock()
        defer {
            lock.lock()
            recording = previous
            lock.unlock()
        }
        try body()
        lock.lock()
        defer { lock.unlock() }
        return recording ?? [:]
    }

    // MARK: Timing

    /// Milliseconds per run of each candidate: one untimed run of each (it may compile), then
    /// rounds in which every candidate still in the race runs once, timed, one after the other,
    /// so that a stretch of the machine running slow or fast falls on all of them alike (a shared
    /// machine drifts by 20-30% over seconds; timed one candidate after another, the tuner had
    /// chosen a 3x3 input gradient 2.3x slower than Winograd's). Up to five rounds: at least three
    /// when runs are short, fewer once a candidate has taken a quarter of a second (a slow device
    /// tunes in minutes, not hours); a candidate whose first timed run is over three times the
    /// fastest first run leaves the race there. Each candidate's time is its median. A candidate
    /// whose run or wait throws is left out with its error.
    private func measure(_ candidates: [String], run: (String) throws -> Void, synchronize: () throws -> Void)
        -> (milliseconds: [String: Double], unavailable: [String: String], firstError: Error?) {
        var unavailable: [String: String] = [:]
        var firstError: Error?
        func attempt(_ candidate: String) -> Double? {
            do {
                let start = DispatchTime.now().uptimeNanoseconds
                try run(candidate)
                try synchronize()
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            } catch {
                firstError = firstError ?? error
                unavailable[candidate] = String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
                return nil
            }
        }
        var racing = candidates.filter { attempt($0) != nil }
        var samples: [String: [Double]] = [:]
        var spent: [String: Double] = [:]
        var round = 0
        while !racing.isEmpty && round < 5 && (round < 3 || racing.allSatisfy { spent[$0, default: 0] < 0.05 }) {
            for candidate in racing {
                guard let seconds = attempt(candidate) else { continue }
                samples[candidate, default: []].append(seconds)
                spent[candidate, default: 0] += seconds
            }
            racing.removeAll { unavailable[$0] != nil }
            if round == 0, let fastest = racing.compactMap({ samples[$0]?.first }).min() {
                racing.removeAll { samples[$0]![0] > 3 * fastest }
            }
            if racing.contains(where: { spent[$0, default: 0] > 0.25 }) { break }
            round += 1
        }
        var milliseconds: [String: Double] = [:]
        for (candidate, times) in samples where unavailable[candidate] == nil {
            milliseconds[candidate] = times.sorted()[times.count / 2] * 1000
        }
        return (milliseconds, unavailable, firstError)
    }

    // MARK: Cache

    private struct CacheFile: Codable {
        var device: String
        var choices: [String: String]
    }

    private func record(_ decision: TuningDecision) {
        if decided[decision.problem] == nil { order.append(decision.problem) }
        decided[decision.problem] = decision
    }

    /// The file's choices, or none when it is missing, does not parse, or is another device's.
    private func readFile() -> [String: String] {
        guard let file, let data = try? Data(contentsOf: file),
              let cache = try? JSONDecoder().decode(CacheFile.self, from: data), cache.device == deviceKey else { return [:] }
        return cache.choices
    }

    /// Merge this process's measured choices into what the file holds now (other shapes' choices,
    /// perhaps written by another process since this one started, stay), write the whole aside and
    /// rename, so a reader never sees half a file. A failure to write only costs tuning again next
    /// time. Called with the lock held.
    private func save() {
        guard let file else { return }
        let choices = readFile().merging(measuredChoices) { _, mine in mine }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(CacheFile(device: deviceKey, choices: choices)) else { return }
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).\(getpid()).\(UUID().uuidString).tmp")
        if (try? data.write(to: temporary)) == nil || rename(temporary.path, file.path) != 0 {
            try? FileManager.default.removeItem(at: temporary)
        }
    }

    static func hash(_ text: String) -> String { fnv1aHex(text) }
}

/// 64-bit FNV-1a of `text`, as hex: a stable key for cache files.
func fnv1aHex(_ text: String) -> String {
    var value: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        value ^= UInt64(byte)
        value = value &* 0x100_0000_01b3
    }
    return String(value, radix: 16)
}
