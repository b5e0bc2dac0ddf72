import Foundation
import XCTest
@testable import CLTrainIO

final class WeightsValidationTests: XCTestCase {
    let fileName = "model.safetensors"

    func makeFile(_ tensors: [(String, [Int])]) throws -> SafetensorsFile {
        let data = try SafetensorsWriter.encode(tensors: tensors.map { name, shape in
            (name, shape, [Float](repeating: 0, count: shape.reduce(1, *)))
        })
        return try SafetensorsFile.decode(data, source: fileName)
    }

    let expected: [(name: String, shape: [Int])] = [
        ("conv.weight", [8, 3, 3, 3]), ("bn.weight", [8]), ("bn.bias", [8]), ("bn.num_batches_tracked", []), ("fc.weight", [10, 8]),
    ]

    func testExactMatchPassesWithOrWithoutNumBatchesTracked() throws {
        try makeFile([("conv.weight", [8, 3, 3, 3]), ("bn.weight", [8]), ("bn.bias", [8]), ("fc.weight", [10, 8])])
            .validate(against: expected)
        // An I64 num_batches_tracked, as PyTorch saves it, is ignored as well.
        let header = #"{"bn.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"x.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}"#
        try SafetensorsFile.decode(handMadeFile(header: header, data: Array(repeating: 0, count: 16)), source: fileName)
            .validate(against: [])
    }

    func testMissingTensorIsReportedFirstWithCount() throws {
        let file = try makeFile([("conv.weight", [8, 3, 3, 3]), ("bn.weight", [8]), ("fc.weight", [10, 9]), ("extra", [1])])
        assertWeightsError(try file.validate(against: expected), file: fileName, mentions: ["'bn.bias'", "2 other problems"]) {
            $0 == .missingTensor(file: self.fileName, tensor: "bn.bias", others: 2)
        }
    }

    func testShapeMismatchNamesBothShapes() throws {
        let file = try makeFile([("conv.weight", [8, 3, 3, 3]), ("bn.weight", [8]), ("bn.bias", [8]), ("fc.weight", [100, 8])])
        assertWeightsError(try file.validate(against: expected), file: fileName, mentions: ["'fc.weight'", "[100, 8]", "[10, 8]"]) {
            $0 == .shapeMismatch(file: self.fileName, tensor: "fc.weight", expected: [10, 8], found: [100, 8], others: 0)
        }
    }

    func testUnexpectedTensorAndAllowExtra() throws {
        let file = try makeFile([("conv.weight", [8, 3, 3, 3]), ("bn.weight", [8]), ("bn.bias", [8]), ("fc.weight", [10, 8]),
                                 ("zz.extra", [2]), ("aa.extra", [1])])
        assertWeightsError(try file.validate(against: expected), file: fileName, mentions: ["'aa.extra'", "1 other problem)"]) {
            $0 == .unexpectedTensor(file: self.fileName, tensor: "aa.extra", others: 1)
        }
        try file.validate(against: expected, allowExtra: ["aa.extra", "zz.extra"])
    }
}
