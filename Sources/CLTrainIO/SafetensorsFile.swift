import Foundation

/// A safetensors file read into memory.
///
/// Layout: u64 little-endian header length N, N bytes of UTF-8 JSON (possibly padded with
/// spaces), then the data section. The header maps tensor names to
/// `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the data section)
/// and may hold `"__metadata__": {string: string}`.
public struct SafetensorsFile: Sendable {
    /// Header lengths above this are refused before anything is allocated for them.
    public static let maxHeaderLength = 100_000_000

    /// The path (or label) the file was read from; every error names it.
    public let source: String
    public let tensors: [String: TensorRecord]
    /// Tensor names in the order of their data in the file.
    public let tensorNames: [String]
    public let metadata: [String: String]

    /// Reads and checks a whole file. Throws only `WeightsFileError`.
    public static func read(contentsOf url: URL) throws -> SafetensorsFile {
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw WeightsFileError.unreadable(file: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else {
            throw WeightsFileError.unreadable(file: path, reason: "it is a directory")
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw WeightsFileError.unreadable(file: path, reason: Self.reason(error))
        }
        return try decode(data, source: path)
    }

    /// Parses and checks a file's bytes. `source` names the file in errors.
    /// Throws only `WeightsFileError`.
    public static func decode(_ data: Data, source: String) throws -> SafetensorsFile {
        let base = data.startIndex
        guard data.count >= 8 else { throw WeightsFileError.tooShort(file: source, size: data.count) }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(data[base + i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(maxHeaderLength) else {
            throw WeightsFileError.headerTooLarge(file: source, headerLength: headerLength, limit: maxHeaderLength)
        }
        guard headerLength <= UInt64(data.count - 8) else {
            throw WeightsFileError.headerBeyondFile(file: source, headerLength: headerLength, fileSize: data.count)
        }
        let headerEnd = base + 8 + Int(headerLength)
        let json: JSONValue
        do {
            json = try JSONParser.parse(data[(base + 8)..<headerEnd])
        } catch let error as JSONParseError {
            throw WeightsFileError.invalidHeaderJSON(file: source, detail: "\(error.message) at header byte \(error.offset)")
        } catch {
            throw WeightsFileError.invalidHeaderJSON(file: source, detail: "\(error)")
        }
        guard case let .object(members) = json else { throw WeightsFileError.headerNotObject(file: source) }

        let dataSection = data[headerEnd...]
        var metadata: [String: String] = [:]
        var entries: [(name: String, dtype: SafetensorsDType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in members {
            if name == "__metadata__" {
                metadata = try parseMetadata(value, source: source)
                continue
            }
            let entry = try parseEntry(name: name, value, source: source)
            guard entry.end <= UInt64(dataSection.count) else {
                throw WeightsFileError.truncatedData(file: source, tensor: name, needed: entry.end, available: dataSection.count)
            }
            entries.append((name, entry.dtype, entry.shape, Int(entry.begin), Int(entry.end)))
        }

        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var tensors: [String: TensorRecord] = [:]
        var furthest: (name: String, end: Int)?  // the earlier tensor whose data ends last
        for entry in entries {
            if let furthest, entry.begin < furthest.end {
                throw WeightsFileError.overlappingTensors(file: source, tensor: entry.name, other: furthest.name)
            }
            if entry.end > (furthest?.end ?? -1) { furthest = (entry.name, entry.end) }
            let bytes = Data(dataSection[(dataSection.startIndex + entry.begin)..<(dataSection.startIndex + entry.end)])
            tensors[entry.name] = TensorRecord(name: entry.name, dtype: entry.dtype, shape: entry.shape, data: bytes, source: source)
        }
        return SafetensorsFile(source: source, tensors: tensors, tensorNames: entries.map(\.name), metadata: metadata)
    }

    private static func parseMetadata(_ value: JSONValue, source: String) throws -> [String: String] {
        if value == .null { return [:] }
        guard case let .object(members) = value else {
            throw WeightsFileError.invalidMetadata(file: source, detail: "it is \(value.typeName), not an object")
        }
        var result: [String: String] = [:]
        for (key, item) in members {
            guard case let .string(text) = item else {
                throw WeightsFileError.invalidMetadata(file: source, detail: "value of '\(key)' is \(item.typeName), not a string")
            }
            result[key] = text
        }
        return result
    }

    private static func parseEntry(name: String, _ value: JSONValue, source: String) throws
        -> (dtype: SafetensorsDType, shape: [Int], begin: UInt64, end: UInt64)
    {
        func invalid(_ detail: String) -> WeightsFileError {
            .invalidEntry(file: source, tensor: name, detail: detail)
        }
        guard case let .object(fields) = value else { throw invalid("it is \(value.typeName), not an object") }
        func field(_ key: String) throws -> JSONValue {
            guard let found = fields.first(where: { $0.key == key }) else { throw invalid("missing \"\(key)\"") }
            return found.value
        }
        guard case let .string(dtypeName) = try field("dtype") else { throw invalid("\"dtype\" is not a string") }
        guard case let .array(shapeValues) = try field("shape") else { throw invalid("\"shape\" is not an array") }
        guard case let .array(offsetValues) = try field("data_offsets") else { throw invalid("\"data_offsets\" is not an array") }

        var shape: [Int] = []
        var elementCount = 1
        for dimension in shapeValues {
            guard let raw = dimension.unsignedInteger, let size = Int(exactly: raw), size <= Int(Int32.max) else {
                throw invalid("\"shape\" must hold non-negative integers, found \(Self.render(dimension))")
            }
            shape.append(size)
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: size)
            guard !overflow, product <= Int(Int32.max) * 16 else { throw invalid("shape \(shape) has too many elements") }
            elementCount = product
        }
        guard offsetValues.count == 2, let begin = offsetValues[0].unsignedInteger, let end = offsetValues[1].unsignedInteger else {
            throw invalid("\"data_offsets\" must be two non-negative integers, found [\(offsetValues.map(Self.render).joined(separator: ", "))]")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw WeightsFileError.unsupportedDType(file: source, tensor: name, dtype: dtypeName)
        }
        guard begin <= end else { throw WeightsFileError.invalidOffsets(file: source, tensor: name, begin: begin, end: end) }
        let expectedBytes = elementCount * dtype.byteSize  // cannot overflow: elementCount is bounded above
        guard end - begin == UInt64(expectedBytes) else {
            let span = end - begin
            throw WeightsFileError.sizeMismatch(file: source, tensor: name, shape: shape, dtype: dtype.rawValue,
                                                expectedBytes: expectedBytes, actualBytes: Int(exactly: span) ?? Int.max)
        }
        return (dtype, shape, begin, end)
    }

    private static func render(_ value: JSONValue) -> String {
        switch value {
        case let .number(text): return text
        case let .string(text): return "\"\(text)\""
        default: return value.typeName
        }
    }

    static func reason(_ error: Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain,
           let message = strerror(Int32(underlying.code)) {
            return String(cString: message)
        }
        return nsError.localizedDescription
    }

    // MARK: Access

    /// The named tensor, or `missingTensor`.
    public func tensor(_ name: String) throws -> TensorRecord {
        guard let record = tensors[name] else { throw WeightsFileError.missingTensor(file: source, tensor: name, others: 0) }
        return record
    }

    /// The named tensor's values as Float (see `TensorRecord.floats(allowConversion:)`).
    public func floats(_ name: String, allowConversion: Bool = true) throws -> [Float] {
        try tensor(name).floats(allowConversion: allowConversion)
    }

    /// The named tensor's values as Float after checking its shape (`shapeMismatch` otherwise).
    public func floats(_ name: String, shape: [Int], allowConversion: Bool = true) throws -> [Float] {
        let record = try tensor(name)
        guard record.shape == shape else {
            throw WeightsFileError.shapeMismatch(file: source, tensor: name, expected: shape, found: record.shape, others: 0)
        }
        return try record.floats(allowConversion: allowConversion)
    }

    /// A one-element integer tensor (shape [] or [1]) as Int, e.g. `num_batches_tracked`.
    public func integer(_ name: String) throws -> Int {
        let record = try tensor(name)
        let values = try record.integers()
        guard values.count == 1 else {
            throw WeightsFileError.shapeMismatch(file: source, tensor: name, expected: [], found: record.shape, others: 0)
        }
        return values[0]
    }
}
