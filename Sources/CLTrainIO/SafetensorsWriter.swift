import Foundation

/// Writes F32 (and I64 scalar) safetensors files laid out as the Python `safetensors` package lays them out:
/// tensors in name order (byte-wise), data packed in that order, `__metadata__` first when
/// there is any, compact JSON, header padded with spaces to a multiple of 8 bytes.
public enum SafetensorsWriter {
    public typealias Tensor = (name: String, shape: [Int], values: [Float])

    /// A 0-dimensional I64 tensor, as PyTorch stores BatchNorm's `num_batches_tracked`.
    public typealias Int64Scalar = (name: String, value: Int64)

    /// Writes the tensors (F32) and `int64Scalars` (I64, shape []) to `url` atomically and
    /// durably (see `AtomicFile`). Throws `WeightsFileError`; the tensors are checked before any
    /// file is created.
    /// With `checksum`, the metadata also holds `SafetensorsChecksum.key`: a CRC-32 of the
    /// data section and the other metadata, which `SafetensorsChecksum.verify` checks.
    public static func write(tensors: [Tensor], int64Scalars: [Int64Scalar] = [], metadata: [String: String] = [:], checksum: Bool = false,
                             to url: URL) throws {
        let path = url.path
        let plan = try Plan(tensors: tensors, int64Scalars: int64Scalars, metadata: metadata, checksum: checksum, file: path)
        try AtomicFile.write(to: url) { sink in
            try plan.emit { try sink.write($0) }
        }
    }

    /// The file's bytes in memory.
    public static func encode(tensors: [Tensor], int64Scalars: [Int64Scalar] = [], metadata: [String: String] = [:]) throws -> Data {
        let plan = try Plan(tensors: tensors, int64Scalars: int64Scalars, metadata: metadata, checksum: false, file: "<memory>")
        var data = Data(capacity: plan.totalSize)
        try plan.emit { data.append(contentsOf: $0) }
        return data
    }

    /// The checked, ordered tensors and the header that describes them.
    private struct Plan {
        /// One tensor as it goes into the file: its dtype and its little-endian bytes.
        struct Entry {
            let name: String
            let dtype: String
            let shape: [Int]
            let bytes: [UInt8]
        }

        let ordered: [Entry]
        let header: [UInt8]
        let totalSize: Int

        init(tensors: [Tensor], int64Scalars: [Int64Scalar], metadata: [String: String], checksum: Bool, file: String) throws {
            var seen = Set<String>()
            for scalar in int64Scalars {
                guard !scalar.name.isEmpty, scalar.name != "__metadata__", seen.insert(scalar.name).inserted else {
                    throw WeightsFileError.invalidTensorToWrite(file: file, tensor: scalar.name, detail: "the name is reserved, empty or appears twice")
                }
            }
            for tensor in tensors {
                func invalid(_ detail: String) -> WeightsFileError {
                    .invalidTensorToWrite(file: file, tensor: tensor.name, detail: detail)
                }
                guard !tensor.name.isEmpty, tensor.name != "__metadata__" else { throw invalid("the name is reserved or empty") }
                guard seen.insert(tensor.name).inserted else { throw invalid("the name appears twice") }
                guard tensor.shape.allSatisfy({ $0 >= 0 }) else { throw invalid("shape \(tensor.shape) has a negative dimension") }
                var count = 1
                for dimension in tensor.shape {
                    let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                    guard !overflow else { throw invalid("shape \(tensor.shape) is too large") }
                    count = product
                }
                guard count == tensor.values.count else {
                    throw invalid("shape \(tensor.shape) holds \(count) values but \(tensor.values.count) were given")
                }
            }
            let floats = tensors.map { tensor in
                Entry(name: tensor.name, dtype: "F32", shape: tensor.shape,
                      bytes: Self.littleEndianBytes(tensor.values))
            }
            let integers = int64Scalars.map { scalar in
                Entry(name: scalar.name, dtype: "I64", shape: [], bytes: withUnsafeBytes(of: scalar.value.littleEndian) { Array($0) })
            }
            ordered = (floats + integers).sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
            var metadata = metadata
            if checksum {
                metadata[SafetensorsChecksum.key] = SafetensorsChecksum.value(dataSection: ordered.map(\.bytes), metadata: metadata)
            }

            var json = "{"
            var members: [String] = []
            if !metadata.isEmpty {
                let keys = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                let items = keys.map { "\(Self.quoted($0)):\(Self.quoted(metadata[$0]!))" }
                members.append("\"__metadata__\":{\(items.joined(separator: ","))}")
            }
            var offset = 0
            for tensor in ordered {
                let end = offset + tensor.bytes.count
                let shape = tensor.shape.map(String.init).joined(separator: ",")
                members.append("\(Self.quoted(tensor.name)):{\"dtype\":\"\(tensor.dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
                offset = end
            }
            json += members.joined(separator: ",") + "}"
            var bytes = Array(json.utf8)
            bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - bytes.count % 8) % 8))
            header = bytes
            totalSize = 8 + bytes.count + offset
        }

        func emit(_ output: (UnsafeRawBufferPointer) throws -> Void) throws {
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try output($0) }
            try header.withUnsafeBytes { try output($0) }
            for tensor in ordered {
                try tensor.bytes.withUnsafeBytes { try output($0) }
            }
        }

        static func littleEndianBytes(_ values: [Float]) -> [UInt8] {
            #if _endian(little)
            return values.withUnsafeBytes { Array($0) }
            #else
            return values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Array($0) }
            #endif
        }

        /// A JSON string literal escaped as serde_json does (control characters, quote, backslash).
        static func quoted(_ text: String) -> String {
            var out = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{08}": out += "\\b"
                case "\u{0C}": out += "\\f"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
    }
}
