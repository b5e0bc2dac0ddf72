import Foundation
import XCTest
@testable import CLTrainRuntime

/// The CPU backend's worker threads: every item of every loop runs exactly once, whatever
/// the loops' sizes, however quickly they follow each other, and when a loop is started from
/// inside another or from two threads at once (those fall back on libdispatch).
final class CPUThreadPoolTests: XCTestCase {
    /// How many times each index of a loop ran, counted under a lock.
    final class Tally: @unchecked Sendable {
        private let lock = NSLock()
        private var counts: [Int]
        init(_ count: Int) { counts = Array(repeating: 0, count: count) }
        func add(_ index: Int) {
            lock.lock()
            counts[index] += 1
            lock.unlock()
        }
        var values: [Int] {
            lock.lock()
            defer { lock.unlock() }
            return counts
        }
    }

    func testEveryItemOfManyLoopsRunsOnce() {
        for threads in [1, 2, 3] {
            let pool = CPUThreadPool(threads: threads)
            for count in [0, 1, 2, 3, 7, 64, 1000] {
                // Many loops in a row: the workers come late to some and find others already taken.
                for round in 0..<(count > 64 ? 20 : 500) {
                    let tally = Tally(count)
                    pool.run(count) { tally.add($0) }
                    XCTAssertEqual(tally.values, Array(repeating: 1, count: count), "\(threads) threads, \(count) items, loop \(round)")
                }
            }
        }
    }

    func testItemsRunOnTheWorkersToo() {
        let pool = CPUThreadPool(threads: 2)
        let lock = NSLock()
        var threadsSeen = Set<UInt64>()
        for _ in 0..<200 {
            pool.run(2) { _ in
                // Long enough that the caller cannot take both items before a worker claims one.
                Thread.sleep(forTimeInterval: 0.0005)
                let id = UInt64(pthread_self())
                lock.lock()
                threadsSeen.insert(id)
                lock.unlock()
            }
        }
        XCTAssertGreaterThanOrEqual(threadsSeen.count, 2, "both items of every loop ran on the calling thread")
    }

    func testALoopInsideALoopRunsEveryItem() {
        let pool = CPUThreadPool(threads: 2)
        let outer = 4, inner = 5
        let tally = Tally(outer * inner)
        pool.run(outer) { i in
            pool.run(inner) { j in tally.add(i * inner + j) }
        }
        XCTAssertEqual(tally.values, Array(repeating: 1, count: outer * inner))
    }

    func testLoopsFromTwoThreadsAtOnce() {
        let pool = CPUThreadPool(threads: 2)
        let count = 37
        let tallies = (0..<2).map { _ in Tally(count) }
        DispatchQueue.concurrentPerform(iterations: 2) { caller in
            for _ in 0..<300 { pool.run(count) { tallies[caller].add($0) } }
        }
        for tally in tallies { XCTAssertEqual(tally.values, Array(repeating: 300, count: count)) }
    }

    func testMoreItemsThanATicketHolds() {
        let pool = CPUThreadPool(threads: 2)
        let count = 70_000
        let tally = Tally(count)
        pool.run(count) { tally.add($0) }
        XCTAssertEqual(tally.values, Array(repeating: 1, count: count))
    }

    func testReleasedPoolsStopTheirThreads() {
        // Each pool joins its workers when released (a hang here is the failure), busy or asleep.
        for i in 0..<50 {
            let pool = CPUThreadPool(threads: 3)
            if i % 2 == 0 { pool.run(8) { _ in } }
            if i % 5 == 0 { Thread.sleep(forTimeInterval: 0.001) }
        }
    }
}
