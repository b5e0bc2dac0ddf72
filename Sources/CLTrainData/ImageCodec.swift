import CPNG
import CTurboJPEG
import Foundation

/// An 8-bit image as its rows of interleaved pixels: H x W x C, C = 1 (gray) or 3 (RGB).
public struct DecodedImage: Sendable, Equatable {
    public var pixels: [UInt8]
    public var width: Int
    public var height: Int
    public var channels: Int

    public init(pixels: [UInt8], width: Int, height: Int, channels: Int) {
        precondition(width > 0 && height > 0 && (channels == 1 || channels == 3), "an image is W x H x 1 or 3")
        precondition(pixels.count == width * height * channels, "pixels must hold H x W x C bytes")
        self.pixels = pixels
        self.width = width
        self.height = height
        self.channels = channels
    }

    /// The image from planar C x H x W bytes (a data set's layout).
    public init(planar: ArraySlice<UInt8>, channels: Int, height: Int, width: Int) {
        precondition(planar.count == channels * height * width, "planar bytes must hold C x H x W")
        var pixels = [UInt8](repeating: 0, count: planar.count)
        let plane = height * width
        let base = planar.startIndex
        for c in 0..<channels {
            for i in 0..<plane { pixels[i * channels + c] = planar[base + c * plane + i] }
        }
        self.init(pixels: pixels, width: width, height: height, channels: channels)
    }

    /// The image as planar C x H x W bytes.
    public var planar: [UInt8] {
        var out = [UInt8](repeating: 0, count: pixels.count)
        let plane = height * width
        for c in 0..<channels {
            for i in 0..<plane { out[c * plane + i] = pixels[i * channels + c] }
        }
        return out
    }

    /// The image with `count` channels: gray to RGB repeats the value; RGB to gray takes the
    /// ITU-R 601 luma with Pillow's `convert("L")` arithmetic (R*299 + G*587 + B*114) / 1000.
    public func converted(toChannels count: Int) -> DecodedImage {
        precondition(count == 1 || count == 3, "an image has 1 or 3 channels")
        if count == channels { return self }
        let n = width * height
        var out = [UInt8](repeating: 0, count: n * count)
        if count == 3 {
            for i in 0..<n {
                let v = pixels[i]
                out[3 * i] = v; out[3 * i + 1] = v; out[3 * i + 2] = v
            }
        } else {
            for i in 0..<n {
                out[i] = Self.luma(pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2])
            }
        }
        return DecodedImage(pixels: out, width: width, height: height, channels: count)
    }

    /// Pillow's `convert("L")` of one RGB pixel: the ITU-R 601 luma in 16-bit fixed point.
    @inline(__always)
    static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        let red: UInt32 = UInt32(r) * 19595, green: UInt32 = UInt32(g) * 38470, blue: UInt32 = UInt32(b) * 7471
        return UInt8((red + green + blue + 0x8000) >> 16)
    }
}

/// Why an image file could not be read or written, as one line that names the file.
public struct ImageCodecError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// JPEG (libjpeg-turbo) and PNG (libpng) decoding to 8-bit gray or RGB, and PNG encoding.
///
/// A `JPEGDecoder` owns a TurboJPEG handle; each thread that decodes keeps its own. `read` and
/// `decode` make one for the call.
public enum ImageCodec {
    /// The file extensions an image folder's images may have (compared without case).
    public static let fileExtensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Whether `name` ends in one of `fileExtensions`.
    public static func isImageFileName(_ name: String) -> Bool {
        fileExtensions.contains((name as NSString).pathExtension.lowercased())
    }

    /// The image in the file at `path`, JPEG or PNG by its first bytes (not its name).
    public static func read(_ path: String) throws -> DecodedImage {
        let decoder = try JPEGDecoder()
        return try decoder.read(path)
    }

    /// The image in `bytes` (JPEG or PNG); `source` names it in errors.
    public static func decode(_ bytes: [UInt8], source: String) throws -> DecodedImage {
        let decoder = try JPEGDecoder()
        return try decoder.decode(bytes, source: source)
    }

    /// The image as a PNG file's bytes (8-bit gray or RGB, no interlacing).
    public static func encodePNG(_ image: DecodedImage) throws -> [UInt8] {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = image.channels == 3 ? UInt32(PNG_FORMAT_RGB) : UInt32(PNG_FORMAT_GRAY)
        defer { png_image_free(&png) }
        var size = 0
        // First ask for the size, then write.
        let sized = image.pixels.withUnsafeBytes { raw in
            png_image_write_to_memory(&png, nil, &size, 0, raw.baseAddress, 0, nil)
        }
        guard sized != 0, size > 0 else { throw ImageCodecError(path: "PNG", reason: "libpng could not encode: \(message(of: png))") }
        var out = [UInt8](repeating: 0, count: size)
        let written = out.withUnsafeMutableBytes { dst in
            image.pixels.withUnsafeBytes { raw in
                png_image_write_to_memory(&png, dst.baseAddress, &size, 0, raw.baseAddress, 0, nil)
            }
        }
        guard written != 0 else { throw ImageCodecError(path: "PNG", reason: "libpng could not encode: \(message(of: png))") }
        return Array(out.prefix(size))
    }

    static func message(of png: png_image) -> String {
        var text = png.message
        return withUnsafeBytes(of: &text) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    static func isJPEG(_ bytes: [UInt8]) -> Bool { bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF }

    static func isPNG(_ bytes: [UInt8]) -> Bool { bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) }

    /// A PNG's pixels as 8-bit gray or RGB. An alpha channel is dropped, not composited (as
    /// Pillow's `convert("RGB")` / `convert("L")` do); palette images expand to RGB.
    static func decodePNG(_ bytes: [UInt8], source: String) throws -> DecodedImage {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&png) }
        let begun = bytes.withUnsafeBytes { raw in png_image_begin_read_from_memory(&png, raw.baseAddress, raw.count) }
        guard begun != 0 else {
            throw ImageCodecError(path: source, reason: "not a readable PNG (\(message(of: png))); replace or remove the file")
        }
        let color = png.format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        let alpha = png.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        let channels = color ? 3 : 1
        let stored = channels + (alpha ? 1 : 0)
        // Keep the samples as stored: ask for the file's own layout (linear 8-bit, no gamma work).
        png.format = (color ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0) | (alpha ? UInt32(PNG_FORMAT_FLAG_ALPHA) : 0)
        let width = Int(png.width), height = Int(png.height)
        guard width > 0, height > 0, width * height <= 1 << 28 else {
            throw ImageCodecError(path: source, reason: "PNG of \(width)x\(height) pixels is empty or too large")
        }
        var buffer = [UInt8](repeating: 0, count: width * height * stored)
        let finished = buffer.withUnsafeMutableBytes { dst in png_image_finish_read(&png, nil, dst.baseAddress, 0, nil) }
        guard finished != 0 else {
            throw ImageCodecError(path: source, reason: "PNG data is damaged (\(message(of: png))); replace or remove the file")
        }
        if !alpha { return DecodedImage(pixels: buffer, width: width, height: height, channels: channels) }
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        for i in 0..<(width * height) {
            for c in 0..<channels { pixels[i * channels + c] = buffer[i * stored + c] }
        }
        return DecodedImage(pixels: pixels, width: width, height: height, channels: channels)
    }
}

/// Decodes JPEG and PNG files; owns one TurboJPEG handle, released when it goes. Not for use
/// from two threads at once: give each decoding thread its own.
public final class JPEGDecoder {
    private let handle: tjhandle

    public init() throws {
        guard let handle = tjInitDecompress() else {
            throw ImageCodecError(path: "libjpeg-turbo", reason: "could not start a JPEG decoder")
        }
        self.handle = handle
    }

    deinit { tjDestroy(handle) }

    /// The image in the file at `path`, JPEG or PNG by its first bytes.
    public func read(_ path: String) throws -> DecodedImage {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ImageCodecError(path: path, reason: "cannot be read (\((error as NSError).localizedDescription))")
        }
        return try decode([UInt8](data), source: path)
    }

    /// The image in `bytes`; `source` names it in errors.
    public func decode(_ bytes: [UInt8], source: String) throws -> DecodedImage {
        if bytes.isEmpty { throw ImageCodecError(path: source, reason: "is empty (0 bytes); replace or remove the file") }
        if ImageCodec.isPNG(bytes) { return try ImageCodec.decodePNG(bytes, source: source) }
        guard ImageCodec.isJPEG(bytes) else {
            throw ImageCodecError(path: source, reason: "is neither a JPEG nor a PNG image; convert it or remove it from the folder")
        }
        return try decodeJPEG(bytes, source: source)
    }

    private func decodeJPEG(_ bytes: [UInt8], source: String) throws -> DecodedImage {
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = bytes.withUnsafeBufferPointer { buf in
            tjDecompressHeader3(handle, buf.baseAddress, UInt(buf.count), &width, &height, &subsampling, &colorspace)
        }
        guard header == 0 else { throw ImageCodecError(path: source, reason: "JPEG header is damaged (\(lastError)); replace or remove the file") }
        guard width > 0, height > 0, Int(width) * Int(height) <= 1 << 28 else {
            throw ImageCodecError(path: source, reason: "JPEG of \(width)x\(height) pixels is empty or too large")
        }
        let gray = colorspace == Int32(TJCS_GRAY.rawValue)
        let channels = gray ? 1 : 3
        let format = gray ? TJPF_GRAY : TJPF_RGB
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * channels)
        let status = bytes.withUnsafeBufferPointer { buf in
            pixels.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, buf.baseAddress, UInt(buf.count), dst.baseAddress, width, 0, height,
                              Int32(format.rawValue), 0)
            }
        }
        // A warning about stray bytes still leaves the whole image (Pillow reads it too); an error,
        // or a file cut short (its missing rows come out gray), does not.
        if status != 0, tjGetErrorCode(handle) != Int32(TJERR_WARNING.rawValue) || lastError.contains("Premature end") {
            throw ImageCodecError(path: source, reason: "JPEG data is damaged (\(lastError)); replace or remove the file")
        }
        return DecodedImage(pixels: pixels, width: Int(width), height: Int(height), channels: channels)
    }

    private var lastError: String { String(cString: tjGetErrorStr2(handle)) }
}
