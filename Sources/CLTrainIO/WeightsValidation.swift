import Foundation

extension SafetensorsFile {
    /// Checks the file holds exactly the expected tensors with the expected shapes.
    ///
    /// Names ending in one of `ignoringSuffixes` (BatchNorm's `num_batches_tracked` by default)
    /// are neither required nor reported as unexpected; names in `allowExtra` may be present.
    /// Throws the first problem (`missingTensor`, `shapeMismatch` in `expected` order, then
    /// `unexpectedTensor` in name order) with the count of further problems in `others`.
    /// Dtypes are not checked here; `floats(_:)` checks them when the values are read.
    public func validate(
        against expected: [(name: String, shape: [Int])],
        allowExtra: Set<String> = [],
        ignoringSuffixes: [String] = ["num_batches_tracked"]
    ) throws {
        func ignored(_ name: String) -> Bool { ignoringSuffixes.contains { name.hasSuffix($0) } }
        var problems: [(Int) -> WeightsFileError] = []
        var expectedNames = Set<String>()
        for (name, shape) in expected where !ignored(name) {
            expectedNames.insert(name)
            guard let record = tensors[name] else {
                problems.append { .missingTensor(file: source, tensor: name, others: $0) }
                continue
            }
            if record.shape != shape {
                problems.append { .shapeMismatch(file: source, tensor: name, expected: shape, found: record.shape, others: $0) }
            }
        }
        let unexpected = tensors.keys
            .filter { !expectedNames.contains($0) && !allowExtra.contains($0) && !ignored($0) }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for name in unexpected {
            problems.append { .unexpectedTensor(file: source, tensor: name, others: $0) }
        }
        if let first = problems.first { throw first(problems.count - 1) }
    }
}
