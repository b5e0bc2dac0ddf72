import XCTest
@testable import CLTrainRuntime
final class PlaceholderTests: XCTestCase { func testSizeClass() { XCTAssertEqual(MemoryPool.sizeClass(1000), 1024) } }
