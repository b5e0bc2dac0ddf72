import XCTest
import CLTrainRuntime
@testable import CLTrainNN

final class ModelCatalogTests: XCTestCase {
    let device = Device(backend: CPUBackend())

    func count(_ name: String, channels: Int, classes: Int) throws -> Int {
        try XCTUnwrap(ModelCatalog.entry(named: name)).make(inputChannels: channels, classes: classes, device: device, seed: 1).parameterCount
    }

    func testParameterCountsMatchTheReferences() throws {
        XCTAssertEqual(try count("densenet-bc-100", channels: 1, classes: 10), 768_730)
        XCTAssertEqual(try count("densenet-bc-100", channels: 3, classes: 10), 769_162)
        XCTAssertEqual(try count("densenet-bc-40", channels: 1, classes: 10), 175_690)
        XCTAssertEqual(try count("drn-c-26", channels: 1, classes: 10), 20_617_146)
    }

    func testDenseNet121MatchesTorchvision() throws {
        XCTAssertEqual(try count("densenet-121", channels: 3, classes: 1000), 7_978_856)
    }
}
