import Foundation
import XCTest
@testable import CLTrainReport

/// The bytes of TensorBoard event files: CRC-32C, protobuf fields, record framing. The expected
/// events and records are what Python's protobuf and tensorboard produce for the same values.
final class TensorBoardEncodingTests: XCTestCase {
    func testCRC32CKnownVectors() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
        // RFC 3720 (iSCSI), appendix B.4.
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
    }

    func testMaskRotatesAndAddsTheConstant() {
        XCTAssertEqual(CRC32C.masked(0), 0xA282_EAD8)
        XCTAssertEqual(CRC32C.masked(1 << 15), 0xA282_EAD9)
        XCTAssertEqual(CRC32C.masked(1), (1 << 17) + 0xA282_EAD8)
        XCTAssertEqual(CRC32C.masked(0xFFFF_FFFF), 0xFFFF_FFFF &+ 0xA282_EAD8)
    }

    func testVarints() {
        func varint(_ value: UInt64) -> [UInt8] {
            var writer = ProtobufWriter()
            writer.appendVarint(value)
            return writer.bytes
        }
        XCTAssertEqual(varint(0), [0x00])
        XCTAssertEqual(varint(1), [0x01])
        XCTAssertEqual(varint(127), [0x7F])
        XCTAssertEqual(varint(128), [0x80, 0x01])
        XCTAssertEqual(varint(300), [0xAC, 0x02])
        XCTAssertEqual(varint(UInt64.max), [UInt8](repeating: 0xFF, count: 9) + [0x01])
        // A negative int64 takes all ten bytes.
        XCTAssertEqual(varint(UInt64(bitPattern: -1)), [UInt8](repeating: 0xFF, count: 9) + [0x01])
    }

    func testScalarEventBytes() {
        let event = TensorBoardEvent.scalars([("train/loss", 0.25)], step: 300, wallTime: 1.5)
        XCTAssertEqual(event, [
            0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F,  // wall_time 1.5
            0x10, 0xAC, 0x02,  // step 300
            0x2A, 0x13,  // summary, 19 bytes
            0x0A, 0x11,  // value, 17 bytes
            0x0A, 0x0A, 0x74, 0x72, 0x61, 0x69, 0x6E, 0x2F, 0x6C, 0x6F, 0x73, 0x73,  // tag "train/loss"
            0x15, 0x00, 0x00, 0x80, 0x3E,  // simple_value 0.25
        ])
    }

    func testFileVersionAndSessionStartBytes() {
        XCTAssertEqual(TensorBoardEvent.fileVersion(wallTime: 1.5), [
            0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F,
            0x1A, 0x0D, 0x62, 0x72, 0x61, 0x69, 0x6E, 0x2E, 0x45, 0x76, 0x65, 0x6E, 0x74, 0x3A, 0x32,  // "brain.Event:2"
        ])
        XCTAssertEqual(TensorBoardEvent.sessionStart(step: 81, wallTime: 2), [
            0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x10, 0x51,
            0x3A, 0x02, 0x08, 0x01,  // session_log { status: START }
        ])
    }

    func testRecordFraming() {
        XCTAssertEqual(RecordFraming.frame(Array("hello".utf8)), [
            0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // length
            0xEA, 0xB2, 0x04, 0x3E,  // masked CRC of the length
            0x68, 0x65, 0x6C, 0x6C, 0x6F,  // data
            0xBB, 0x1F, 0x1C, 0x19,  // masked CRC of the data
        ])
    }
}
