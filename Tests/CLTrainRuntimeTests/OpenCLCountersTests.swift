import CLTrainTestSupport
import XCTest
@testable import CLTrainRuntime

/// `OpenCLBackend.counters` counts each kernel launch, CLBlast call and host-device copy once.
final class OpenCLCountersTests: XCTestCase {
    private func openCL() throws -> (Device, OpenCLBackend) {
        do {
            let device = try SharedOpenCL.device.get()
            return (device, try XCTUnwrap(device.backend as? OpenCLBackend))
        } catch is SharedOpenCL.NoPlatform {
            throw XCTSkip("no OpenCL platform found (install pocl-opencl-icd): skipping the OpenCL counter tests")
        }
    }

    func testKnownOpsCountAsExpected() throws {
        let (device, cl) = try openCL()
        let before = cl.counters

        let a = try device.tensor([1, 2, 3, 4], shape: [2, 2])           // one write, 16 bytes
        let b = try device.full([2, 2], value: 1)                        // one launch (fill)
        let c = try device.makeTensor([2, 2])
        try cl.add(a, b, output: c)                                      // one launch
        try cl.sgemm(transposeA: false, transposeB: false, m: 2, n: 2, k: 2, alpha: 1,
                     a: a, lda: 2, b: b, ldb: 2, beta: 0, c: c, ldc: 2)  // one CLBlast call
        try cl.fill(try device.makeTensor([0]), value: 0)                // nothing enqueued
        let values = try device.read(c)                                  // one read, 16 bytes
        try device.write([5, 6], to: c.samples(0..<1))                  // one write, 8 bytes

        var expected = OpenCLBackend.Counters()
        expected.kernelLaunches = 2
        expected.clblastCalls = 1
        expected.writes = 2
        expected.writeBytes = 24
        expected.reads = 1
        expected.readBytes = 16
        XCTAssertEqual(cl.counters - before, expected)
        XCTAssertEqual(values, [3, 3, 7, 7])
    }

    /// The training forward and the backward of batch norm are one launch each, with or without
    /// the fused ReLU and its mask.
    func testBatchNormIsOneLaunchEachWay() throws {
        let (device, cl) = try openCL()
        let shape = [2, 3, 4, 4]
        let x = try device.full(shape, value: 0.5), y = try device.makeTensor(shape)
        let dy = try device.full(shape, value: 1), dx = try device.makeTensor(shape)
        let ones = try device.full([3], value: 1), zeros = try device.zeros([3])
        let runningMean = try device.zeros([3]), runningVar = try device.full([3], value: 1)
        let mean = try device.makeTensor([3]), invStd = try device.makeTensor([3])
        let gradWeight = try device.zeros([3]), gradBias = try device.zeros([3])
        try cl.synchronize()
        for relu in [false, true] {
            let before = cl.counters
            try cl.batchNormForwardTraining(input: x, output: y, weight: ones, bias: zeros, runningMean: runningMean, runningVar: runningVar,
                                            saveMean: mean, saveInvStd: invStd, momentum: 0.1, epsilon: 1e-5, relu: relu)
            XCTAssertEqual((cl.counters - before).kernelLaunches, 1, "forward, relu \(relu)")
        }
        for mask in [nil, ReLUMask.output(y), .input(bias: zeros)] {
            let before = cl.counters
            try cl.batchNormBackward(input: x, gradOutput: dy, gradInput: dx, weight: ones, saveMean: mean, saveInvStd: invStd,
                                     gradWeight: gradWeight, gradBias: gradBias, relu: mask, accumulate: false)
            XCTAssertEqual(cl.counters - before, { var c = OpenCLBackend.Counters(); c.kernelLaunches = 1; return c }())
        }
    }
}
