import CLTrainCheck
import CLTrainTestSupport
import XCTest
@testable import CLTrainRuntime

/// Every op of the catalogue on the first OpenCL device (PoCL on a machine without a GPU)
/// against the native CPU backend, on the same seeded inputs, over randomised shapes that
/// include batch 1, odd sizes, channel counts that are not multiples of 4, 1x1/3x3/7x7 kernels,
/// stride 2, dilation 2 and 4, padded pooling, channel slices and accumulation. This is also
/// what `cltrain bench kernels --check` runs on a GPU.
final class OpenCLParityTests: XCTestCase {
    func openCLDevice() throws -> Device {
        do {
            return try SharedOpenCL.device.get()
        } catch is SharedOpenCL.NoPlatform {
            throw XCTSkip("no OpenCL platform found (install pocl-opencl-icd): skipping the OpenCL kernel tests")
        }
    }

    func testEveryOpMatchesTheCPUBackendOnRandomisedShapes() throws {
        let device = try openCLDevice()
        let reference = Device(backend: CPUBackend())
        let bench = KernelBenchmark()
        var checked = Set<String>()
        for (index, opCase) in KernelSuites.randomised(seed: 2026, rounds: 2).enumerated() {
            let error = try bench.compare(opCase, on: device, reference: reference, seed: UInt64(index))
            XCTAssertLessThanOrEqual(error, 1e-4, "\(opCase.op) [\(opCase.shape)]: relative error \(error)")
            checked.insert(opCase.op)
        }
        // The catalogue covers every op of the backend.
        XCTAssertEqual(checked.count, 30, "ops checked: \(checked.sorted())")
    }

    func testStatisticsReturnToTheStartAfterAForwardAndBackwardPass() throws {
        let device = try openCLDevice()
        try device.backend.synchronize()
        let start = device.pool.statistics.liveBytes
        do {
            let g = Conv2dGeometry(kernel: 3, padding: 1)
            let prepared = try [OpCatalog.conv2dForward(n: 2, cin: 3, h: 5, w: 5, cout: 4, geometry: g),
                                OpCatalog.conv2dBackwardData(n: 2, cin: 3, h: 5, w: 5, cout: 4, geometry: g),
                                OpCatalog.conv2dBackwardWeight(n: 2, cin: 3, h: 5, w: 5, cout: 4, geometry: g, bias: true)]
                .map { try $0.prepare(on: device) }
            for op in prepared { try op.run() }
            try device.backend.synchronize()
        }
        XCTAssertEqual(device.pool.statistics.liveBytes, start)
    }

    func testAnImpossibleAllocationThrowsAClearError() throws {
        let device = try openCLDevice()
        XCTAssertThrowsError(try device.makeTensor([1 << 20, 1 << 20, 1 << 10])) { error in
            XCTAssertTrue(error is OutOfMemoryError, "\(error)")
            XCTAssertTrue(String(describing: error).contains("smaller batch"), "\(error)")
        }
    }

    func testAKernelThatDoesNotCompileReportsItsLog() throws {
        let device = try openCLDevice()
        let backend = try XCTUnwrap(device.backend as? OpenCLBackend)
        let source = "__kernel void broken(__global float* x) { x[0] = undefined_name; }"
        XCTAssertThrowsError(try backend.buildProgram(name: "broken.cl", source: source)) { error in
            guard let build = error as? KernelBuildError else { return XCTFail("unexpected \(error)") }
            XCTAssertTrue(build.log.contains("undefined_name"), build.log)
            XCTAssertTrue(build.description.contains("broken.cl"), build.description)
        }
    }

    func testProgramsAreCachedOnDisk() throws {
        _ = try openCLDevice()
        let entry = try XCTUnwrap(try OpenCLPlatforms.devices().first)
        let directory = try makeTemporaryDirectory()
        let source = "__kernel void twice(__global float* x) { x[get_global_id(0)] *= 2.0f; }"
        let first = try OpenCLBackend(entry: entry, cacheDirectory: directory)
        _ = try first.buildProgram(name: "twice.cl", source: source)
        _ = try first.buildProgram(name: "twice.cl", source: source)
        XCTAssertEqual(first.programs.statistics.builtFromSource, 1)
        XCTAssertEqual(first.programs.statistics.memoryHits, 1)
        let second = try OpenCLBackend(entry: entry, cacheDirectory: directory)
        _ = try second.buildProgram(name: "twice.cl", source: source)
        XCTAssertEqual(second.programs.statistics.loadedFromDisk, 1)
        XCTAssertEqual(second.programs.statistics.builtFromSource, 0)
    }

    func testOpenCLErrorsNameTheCallAndTheCode() {
        let error = OpenCLError("clEnqueueNDRangeKernel(conv2d_im2col)", -5)
        XCTAssertEqual(error.description, "clEnqueueNDRangeKernel(conv2d_im2col) failed with CL_OUT_OF_RESOURCES (-5)")
    }
}
