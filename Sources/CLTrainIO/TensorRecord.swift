import Foundation

/// One tensor of a safetensors file: its header entry and its raw little-endian bytes.
public struct TensorRecord: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// The tensor's bytes, little-endian, row-major; `data.startIndex` is 0.
    public let data: Data
    /// The file the record came from, for error messages.
    public let source: String

    public init(name: String, dtype: SafetensorsDType, shape: [Int], data: Data, source: String = "<memory>") {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.data = data.startIndex == 0 ? data : Data(data)
        self.source = source
    }

    /// Number of elements (1 for a scalar of shape []).
    public var elementCount: Int { data.count / dtype.byteSize }

    /// The values as Float. F32 is read as is; F16, BF16 and F64 are converted when
    /// `allowConversion` is true (F64 rounds to nearest). Any other dtype throws `wrongDType`.
    public func floats(allowConversion: Bool = true) throws -> [Float] {
        guard dtype == .f32 || (allowConversion && dtype.isConvertibleToFloat) else {
            throw WeightsFileError.wrongDType(file: source, tensor: name, dtype: dtype.rawValue,
                                              needed: allowConversion ? "F32 (or F16/BF16/F64)" : "F32")
        }
        let count = elementCount
        return data.withUnsafeBytes { raw -> [Float] in
            switch dtype {
            case .f32:
                #if _endian(little)
                return [Float](unsafeUninitializedCapacity: count) { out, initialized in
                    if count > 0 { UnsafeMutableRawBufferPointer(out).copyMemory(from: raw) }
                    initialized = count
                }
                #else
                return (0..<count).map {
                    Float(bitPattern: ElementDecoding.loadLE(raw, $0 * 4, as: UInt32.self))
                }
                #endif
            case .f16:
                return (0..<count).map { ElementDecoding.floatFromHalf(ElementDecoding.loadLE(raw, $0 * 2, as: UInt16.self)) }
            case .bf16:
                return (0..<count).map { ElementDecoding.floatFromBFloat16(ElementDecoding.loadLE(raw, $0 * 2, as: UInt16.self)) }
            case .f64:
                return (0..<count).map { Float(Double(bitPattern: ElementDecoding.loadLE(raw, $0 * 8, as: UInt64.self))) }
            default:
                return []  // excluded by the guard above
            }
        }
    }

    /// The values as Int for integer and BOOL dtypes (e.g. BatchNorm's I64 `num_batches_tracked`).
    /// Throws `wrongDType` for floating dtypes and for U64 values beyond Int.max.
    public func integers() throws -> [Int] {
        guard dtype.isInteger else {
            throw WeightsFileError.wrongDType(file: source, tensor: name, dtype: dtype.rawValue, needed: "an integer dtype")
        }
        let count = elementCount
        var tooLarge = false
        let values = data.withUnsafeBytes { raw -> [Int] in
            (0..<count).map { i -> Int in
                switch dtype {
                case .bool, .u8: return Int(raw[i])
                case .i8: return Int(Int8(bitPattern: raw[i]))
                case .u16: return Int(ElementDecoding.loadLE(raw, i * 2, as: UInt16.self))
                case .i16: return Int(ElementDecoding.loadLE(raw, i * 2, as: Int16.self))
                case .u32: return Int(ElementDecoding.loadLE(raw, i * 4, as: UInt32.self))
                case .i32: return Int(ElementDecoding.loadLE(raw, i * 4, as: Int32.self))
                case .i64: return Int(ElementDecoding.loadLE(raw, i * 8, as: Int64.self))
                case .u64:
                    let value = ElementDecoding.loadLE(raw, i * 8, as: UInt64.self)
                    guard let exact = Int(exactly: value) else { tooLarge = true; return 0 }
                    return exact
                default: return 0  // excluded by the guard above
                }
            }
        }
        if tooLarge {
            throw WeightsFileError.wrongDType(file: source, tensor: name, dtype: dtype.rawValue, needed: "values that fit in Int")
        }
        return values
    }
}
