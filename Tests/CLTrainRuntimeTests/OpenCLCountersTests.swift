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
}
