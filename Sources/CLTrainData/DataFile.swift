import Foundation

/// Reading data files from disk: existence checks, whole-file reads, transparent gunzip.
public enum DataFile {
    /// Reads a file and inflates it when it starts with the gzip magic bytes (whatever its
    /// extension). Throws `DataError` for a missing, unreadable, empty or corrupt file.
    public static func read(_ path: String) throws -> [UInt8] {
        try decode(readRaw(path), path: path)
    }

    /// Inflates `raw` when it is gzip data, else returns it unchanged.
    public static func decode(_ raw: [UInt8], path: String) throws -> [UInt8] {
        guard !raw.isEmpty else { throw DataError.emptyFile(path: path) }
        guard Gzip.isGzip(raw) else { return raw }
        let inflated = try Gzip.decompress(raw, path: path)
        guard !inflated.isEmpty else { throw DataError.emptyFile(path: path) }
        return inflated
    }

    /// The bytes of a file as stored.
    public static func readRaw(_ path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError.missingFile(path: path, expected: [(path as NSString).lastPathComponent])
        }
        guard !isDirectory.boolValue else {
            throw DataError.unreadable(path: path, reason: "it is a directory, not a file")
        }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            return [UInt8](data)
        } catch {
            throw DataError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
    }

    /// The first of `names` (each tried as given, then with ".gz") that exists in `directory`.
    static func locate(_ names: [String], in directory: String) throws -> String {
        var tried: [String] = []
        for name in names {
            for candidate in [name, name + ".gz"] {
                tried.append(candidate)
                let path = (directory as NSString).appendingPathComponent(candidate)
                if isFile(path) { return path }
            }
        }
        let first = (directory as NSString).appendingPathComponent(names.first ?? "")
        throw DataError.missingFile(path: first, expected: tried)
    }

    static func isFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
