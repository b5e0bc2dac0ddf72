import Foundation

/// Every problem reading, checking or writing a weights file.
///
/// Each case renders as one line that names the file (and the tensor where one is involved)
/// and says what to do about it. `file` is the path as given by the caller.
public enum WeightsFileError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file does not exist, is a directory, or could not be read.
    case unreadable(file: String, reason: String)
    /// The file is shorter than the 8-byte header length prefix.
    case tooShort(file: String, size: Int)
    /// The header length prefix is larger than the sanity limit.
    case headerTooLarge(file: String, headerLength: UInt64, limit: Int)
    /// The header length prefix points past the end of the file.
    case headerBeyondFile(file: String, headerLength: UInt64, fileSize: Int)
    /// The header bytes are not valid UTF-8 JSON.
    case invalidHeaderJSON(file: String, detail: String)
    /// The header is valid JSON but not an object.
    case headerNotObject(file: String)
    /// A tensor entry lacks a field or has a field of the wrong type.
    case invalidEntry(file: String, tensor: String, detail: String)
    /// The `__metadata__` entry is not an object of strings.
    case invalidMetadata(file: String, detail: String)
    /// A dtype this reader does not know.
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// A tensor has a dtype that cannot be used where it is needed.
    case wrongDType(file: String, tensor: String, dtype: String, needed: String)
    /// Offsets that are reversed or too large to be real.
    case invalidOffsets(file: String, tensor: String, begin: UInt64, end: UInt64)
    /// The byte range does not match shape x dtype size.
    case sizeMismatch(file: String, tensor: String, shape: [Int], dtype: String, expectedBytes: Int, actualBytes: Int)
    /// Two tensors share bytes.
    case overlappingTensors(file: String, tensor: String, other: String)
    /// The data section ends before a tensor's bytes do.
    case truncatedData(file: String, tensor: String, needed: UInt64, available: Int)
    /// A tensor that should be there is not (`others`: further problems found by `validate`).
    case missingTensor(file: String, tensor: String, others: Int)
    /// A tensor that should not be there is (`others`: further problems found by `validate`).
    case unexpectedTensor(file: String, tensor: String, others: Int)
    /// A tensor's shape is not the one the model needs.
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int], others: Int)
    /// A tensor handed to the writer is inconsistent (value count, name).
    case invalidTensorToWrite(file: String, tensor: String, detail: String)
    /// Creating, writing, syncing or renaming the file failed.
    case writeFailed(file: String, reason: String)
    /// The new file is in place but its directory could not be synced.
    case notDurable(file: String, reason: String)

    /// One line: control characters (e.g. a newline inside a tensor name) are shown escaped.
    public var description: String {
        var line = ""
        for scalar in message.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                line += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                line.unicodeScalars.append(scalar)
            }
        }
        return line
    }

    private var message: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read weights file (\(reason)); check the path and its permissions."
        case let .tooShort(file, size):
            return "\(file): file is truncated (\(size) bytes, fewer than the 8-byte header length); re-export or re-download it."
        case let .headerTooLarge(file, length, limit):
            return "\(file): header length \(length) exceeds the \(limit)-byte limit; this is not a safetensors file or it is corrupt."
        case let .headerBeyondFile(file, length, size):
            return "\(file): header length \(length) runs past the end of the \(size)-byte file; the file is truncated or not safetensors, re-export it."
        case let .invalidHeaderJSON(file, detail):
            return "\(file): header is not valid JSON (\(detail)); the file is corrupt, re-export it."
        case let .headerNotObject(file):
            return "\(file): header JSON is not an object; the file is corrupt or not safetensors, re-export it."
        case let .invalidEntry(file, tensor, detail):
            return "\(file): header entry for tensor '\(tensor)' is invalid (\(detail)); re-export the file."
        case let .invalidMetadata(file, detail):
            return "\(file): __metadata__ is invalid (\(detail)); it must map strings to strings, re-export the file."
        case let .unsupportedDType(file, tensor, dtype):
            return "\(file): tensor '\(tensor)' has unknown dtype '\(dtype)'; convert it to F32 before loading."
        case let .wrongDType(file, tensor, dtype, needed):
            return "\(file): tensor '\(tensor)' has dtype \(dtype) but \(needed) is needed; convert it (e.g. tensor.float()) and save again."
        case let .invalidOffsets(file, tensor, begin, end):
            return "\(file): tensor '\(tensor)' has invalid data_offsets [\(begin), \(end)]; the file is corrupt, re-export it."
        case let .sizeMismatch(file, tensor, shape, dtype, expected, actual):
            return "\(file): tensor '\(tensor)' of shape \(shape) and dtype \(dtype) needs \(expected) bytes but its offsets span \(actual); the file is corrupt, re-export it."
        case let .overlappingTensors(file, tensor, other):
            return "\(file): tensors '\(other)' and '\(tensor)' overlap in the data section; the file is corrupt, re-export it."
        case let .truncatedData(file, tensor, needed, available):
            return "\(file): file is truncated: tensor '\(tensor)' needs data bytes up to \(needed) but only \(available) are present; re-export or re-download it."
        case let .missingTensor(file, tensor, others):
            return "\(file): tensor '\(tensor)' is missing\(Self.more(others)); the file was saved from a different model, check the architecture options."
        case let .unexpectedTensor(file, tensor, others):
            return "\(file): tensor '\(tensor)' is not part of this model\(Self.more(others)); the file was saved from a different model, check the architecture options."
        case let .shapeMismatch(file, tensor, expected, found, others):
            return "\(file): tensor '\(tensor)' has shape \(found) but the model needs \(expected)\(Self.more(others)); check the architecture options (depth, growth rate, classes)."
        case let .invalidTensorToWrite(file, tensor, detail):
            return "\(file): cannot write tensor '\(tensor)': \(detail); this is a bug in the caller."
        case let .writeFailed(file, reason):
            return "\(file): cannot write (\(reason)); check that the directory exists, is writable and has free space. Any existing file was left as it was."
        case let .notDurable(file, reason):
            return "\(file): written, but syncing its directory failed (\(reason)); it may not survive a power loss, check the file system."
        }
    }

    private static func more(_ others: Int) -> String {
        others == 0 ? "" : " (and \(others) other problem\(others == 1 ? "" : "s"))"
    }
}
