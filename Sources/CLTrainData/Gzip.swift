import CZlib

/// Inflates gzip data with zlib.
public enum Gzip {
    /// True when `bytes` begin with the gzip magic bytes 1f 8b.
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// Inflates a whole gzip file (one or more concatenated members) held in memory.
    /// `path` only names the file in errors. Corrupt, truncated or trailing data throws
    /// `DataError.corruptGzip`.
    public static func decompress(_ input: [UInt8], path: String) throws -> [UInt8] {
        guard !input.isEmpty else { throw DataError.emptyFile(path: path) }
        guard isGzip(input) else {
            throw DataError.corruptGzip(path: path, reason: "missing gzip magic bytes 1f 8b")
        }
        var output: [UInt8] = []
        output.reserveCapacity(sizeHint(input))
        let chunk = 1 << 18
        var buffer = [UInt8](repeating: 0, count: chunk)

        try input.withUnsafeBufferPointer { inPtr in
            guard let inBase = inPtr.baseAddress else { return }
            var stream = z_stream()
            // 16 + MAX_WBITS: expect a gzip header and trailer (CRC-32 and length are checked).
            var rc = inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
            guard rc == Z_OK else {
                throw DataError.corruptGzip(path: path, reason: "zlib could not start (code \(rc))")
            }
            defer { inflateEnd(&stream) }
            let total = input.count
            var fed = 0  // bytes handed to zlib so far
            func feed(from position: Int) {
                // avail_in is 32-bit; hand over at most 1 GiB at a time.
                let amount = min(total - position, 1 << 30)
                stream.next_in = UnsafeMutablePointer(mutating: inBase + position)
                stream.avail_in = UInt32(amount)
                fed = position + amount
            }
            feed(from: 0)
            while true {
                if stream.avail_in == 0 && fed < total { feed(from: fed) }
                let produced: Int = buffer.withUnsafeMutableBufferPointer { outPtr in
                    stream.next_out = outPtr.baseAddress
                    stream.avail_out = UInt32(chunk)
                    rc = inflate(&stream, Z_NO_FLUSH)
                    return chunk - Int(stream.avail_out)
                }
                if produced > 0 { output.append(contentsOf: buffer[0..<produced]) }
                switch rc {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    let position = fed - Int(stream.avail_in)
                    if position == total { return }
                    // Another gzip member may follow (as `cat a.gz b.gz` produces).
                    let rest = total - position
                    guard rest >= 2, input[position] == 0x1f, input[position + 1] == 0x8b else {
                        throw DataError.corruptGzip(
                            path: path, reason: "\(rest) unexpected bytes after the end of the compressed data")
                    }
                    rc = inflateReset(&stream)
                    guard rc == Z_OK else {
                        throw DataError.corruptGzip(path: path, reason: zlibMessage(stream, code: rc))
                    }
                    feed(from: position)
                case Z_BUF_ERROR:
                    // The output buffer is always fresh, so no progress means no input is left.
                    if stream.avail_in == 0 && fed < total { continue }
                    throw DataError.corruptGzip(path: path, reason: "the compressed data ends early (truncated file)")
                default:
                    throw DataError.corruptGzip(path: path, reason: zlibMessage(stream, code: rc))
                }
            }
        }
        return output
    }

    /// The uncompressed size stored in the last four bytes (modulo 2^32), capped so that a
    /// damaged trailer cannot make us reserve absurd amounts of memory.
    private static func sizeHint(_ input: [UInt8]) -> Int {
        guard input.count >= 18 else { return 0 }
        let n = input.count
        let isize = Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
        // Deflate cannot expand by more than about 1032:1.
        return min(isize, input.count * 1032, 1 << 30)
    }

    private static func zlibMessage(_ stream: z_stream, code: Int32) -> String {
        if let msg = stream.msg { return String(cString: msg) }
        switch code {
        case Z_DATA_ERROR: return "data error"
        case Z_MEM_ERROR: return "out of memory"
        case Z_STREAM_ERROR: return "stream error"
        case Z_NEED_DICT: return "needs a preset dictionary"
        default: return "zlib code \(code)"
        }
    }
}
