/// Concatenation and its backward: a copy into or out of a channel slice.
extension CPUBackend {
    public func channelCopy(from source: Tensor, to destination: Tensor, accumulate: Bool) throws {
        precondition(source.shape == destination.shape,
                     "channelCopy: shapes \(source.shape) and \(destination.shape) differ")
        let ps = pointer(source), pd = pointer(destination)
        let ss = source.sampleStride, sd = destination.sampleStride
        let (rows, length) = rowLayout([source, destination])
        parallel.forRows(rows, length: length) { row, columns in
            let s = ps + row * ss, d = pd + row * sd
            if accumulate {
                for i in columns { d[i] += s[i] }
            } else {
                (d + columns.lowerBound).update(from: s + columns.lowerBound, count: columns.count)
            }
        }
    }
}
