import CLTrainNN
import CLTrainRuntime
import Foundation

/// The memory a run's training step will need, estimated at start from one forward and backward
/// on a single small image: the device memory above the weights grows with the batch's pixels
/// (activations kept for the backward, their gradients, scratch), so it scales by
/// batch x height x width. The data set stays bytes on the host; only the batches in flight
/// (prefetched, and the one training) are floats.
public struct StepMemory: Sendable, Equatable {
    /// Live device bytes before a step: weights, gradients, optimizer and EMA buffers.
    public var stateBytes: Int
    /// Device bytes a step adds, scaled to the run's batch and image size.
    public var stepBytes: Int
    /// Host bytes of the float batches in flight.
    public var batchBytes: Int
    /// The run's batch and image size, for the message.
    public var batchSize: Int
    public var height: Int
    public var width: Int

    public var deviceBytes: Int { stateBytes + stepBytes }

    /// One line when the step does not fit in `available` bytes of `device` (on the CPU backend
    /// the device is the host, so its batches count too); nil when it fits.
    public func warning(device: String, available: Int, deviceIsHost: Bool) -> String? {
        let needed = deviceBytes + (deviceIsHost ? batchBytes : 0)
        guard needed > available else { return nil }
        return "a training step on \(batchSize) images of \(height)x\(width) needs about \(formatBytes(needed)) of "
            + "\(deviceIsHost ? "host" : "device") memory but \(device) has \(formatBytes(available)) available: "
            + "lower --batch-size or --resize"
    }

    /// Nil when the step fits in `available` bytes; its warning when it needs up to twice that (the
    /// estimate runs high: 60 MB against 38 MB measured at 64x64, so such a run may still fit);
    /// beyond, no such run can finish, so it is refused before training with the same line.
    public func check(device: String, available: Int, deviceIsHost: Bool) throws -> String? {
        guard let line = warning(device: device, available: available, deviceIsHost: deviceIsHost) else { return nil }
        if deviceBytes + (deviceIsHost ? batchBytes : 0) > 2 * available { throw StepMemoryTooLarge(description: line) }
        return line
    }

    /// MemAvailable from /proc/meminfo, nil where there is none.
    public static func hostAvailableBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
        }
        return nil
    }
}

/// A training step that needs over twice the memory the device has: refused at start.
public struct StepMemoryTooLarge: Error, CustomStringConvertible {
    public let description: String
}

extension Trainer {
    /// Estimate a step's memory with one forward and backward on a zero image of at most 32 x 32,
    /// then put back everything it touched (BN statistics and counters, gradients), so the run
    /// is bitwise what it would have been without it.
    public func estimateStepMemory(prefetchDepth: Int = 2) throws -> StepMemory {
        let height = batcher.outputHeight, width = batcher.outputWidth, channels = batcher.dataset.channels
        let probeHeight = min(height, 32), probeWidth = min(width, 32)
        let pool = device.pool
        let state = pool.statistics.liveBytes
        try bufferBackup.save()
        pool.resetPeak()
        do {
            let input = try device.zeros([1, channels, probeHeight, probeWidth])
            let labels = try device.zeros([1])
            let criterion = trainingStep.criterion
            _ = try criterion.forward(trainingStep.forward(input), labels: labels)
            try trainingStep.backward(criterion.backward())
        }
        let added = pool.statistics.peakLiveBytes - state
        for p in model.parameters { try device.backend.fill(p.gradient, value: 0) }
        try bufferBackup.restore()
        let scale = Double(options.batchSize) * Double(height * width) / Double(probeHeight * probeWidth)
        return StepMemory(stateBytes: state, stepBytes: Int(Double(added) * scale),
                          batchBytes: (prefetchDepth + 1) * 4 * options.batchSize * channels * height * width,
                          batchSize: options.batchSize, height: height, width: width)
    }
}
