// CUDA runtime wrappers of the engine's CUDA backend (devices, memory, timing). This header is
// CUDA-free: C++ code (tests, benchmarks, later the engine facade) uses it without CUDA headers.
// Every CUDA call is checked; a failure comes back as a Status naming the call, never a crash.
// Thread-safety: functions are thread-safe as the CUDA runtime is; a DeviceBuffer is
// thread-compatible. All work runs on the current device (device 0 unless changed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

struct CUstream_st;  // what cudaStream_t points to
struct CUevent_st;   // what cudaEvent_t points to

namespace mlxm::engine::cuda {

using Stream = CUstream_st*;  // cudaStream_t; nullptr is the legacy default stream

// Number of usable CUDA devices; 0 when there is no driver or no device (never fails).
int device_count();
// Why device_count() is 0 (the runtime's message); empty when a device is present.
std::string no_device_reason();

struct DeviceInfo {
  std::string name;
  int cc_major = 0;
  int cc_minor = 0;
  int sm_count = 0;
  size_t l2_bytes = 0;
  size_t total_bytes = 0;
  size_t free_bytes = 0;
  int driver_version = 0;   // e.g. 13000
  int runtime_version = 0;  // e.g. 13000
};
Result<DeviceInfo> device_info(int device = 0);

struct MemInfo {
  size_t free_bytes = 0;
  size_t total_bytes = 0;
};
// cudaMemGetInfo of the current device.
Result<MemInfo> mem_info();

// Waits for all work on the device; returns the first error of it.
Status synchronize();

// An owned device allocation (cudaMalloc, 256-byte aligned). Move-only.
// Page-locked host memory (cudaMallocHost): device-to-host copies into it run at PCIe speed
// (pageable destinations go through a staging copy, several times slower on VMs).
class PinnedBuffer {
 public:
  static Result<PinnedBuffer> alloc(size_t bytes);
  PinnedBuffer() = default;
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& o) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* data() const { return ptr_; }
  size_t size() const { return size_; }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

class DeviceBuffer {
 public:
  static Result<DeviceBuffer> alloc(size_t bytes);
  // alloc + upload.
  static Result<DeviceBuffer> from_host(const void* host, size_t bytes);

  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return ptr_; }
  size_t size() const { return size_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

  // Synchronous copies of `bytes` at byte `offset` of the buffer; REQUIRES offset+bytes <= size
  // (checked: invalid_argument otherwise).
  Status upload(const void* host, size_t bytes, size_t offset = 0);
  Status download(void* host, size_t bytes, size_t offset = 0) const;
  // Every byte set to `value` (synchronous).
  Status fill_bytes(int value);

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

// Copies enqueued on `stream` (any direction: cudaMemcpyDefault; unified addressing). With a
// pageable host source the call returns once the source was read; a pageable host destination
// is written before the call returns (the stream is synchronised up to the copy).
Status copy_async(void* dst, const void* src, size_t bytes, Stream stream = nullptr);
// 2-D strided copy: `height` rows of `width` bytes, rows dpitch/spitch bytes apart.
Status copy_2d_async(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                     size_t height, Stream stream = nullptr);
Status stream_synchronize(Stream stream);

// An owned non-blocking stream (can be captured into graphs, unlike the legacy stream).
class OwnedStream {
 public:
  static Result<OwnedStream> create();
  OwnedStream() = default;
  ~OwnedStream();
  OwnedStream(OwnedStream&& o) noexcept;
  OwnedStream& operator=(OwnedStream&& o) noexcept;
  OwnedStream(const OwnedStream&) = delete;
  OwnedStream& operator=(const OwnedStream&) = delete;
  Stream get() const { return s_; }

 private:
  Stream s_ = nullptr;
};

// An owned event without timing data (cudaEventDisableTiming): a point in a stream that the
// host can wait for. synchronize() on an event never recorded returns at once. Move-only.
class Event {
 public:
  static Result<Event> create();
  Event() = default;
  ~Event();
  Event(Event&& o) noexcept;
  Event& operator=(Event&& o) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  Status record(Stream stream);
  // Waits for the work before the last record(); errors of that work come back here.
  Status synchronize() const;
  bool empty() const { return e_ == nullptr; }

 private:
  CUevent_st* e_ = nullptr;
};

// A captured sequence of launches replayed as one CUDA graph (decode steps: one launch instead
// of hundreds). capture() records enqueue(stream) on `stream` (REQUIRES an OwnedStream; the
// enqueued work must only use device memory whose addresses stay valid), launch() replays it.
// Move-only; thread-compatible.
class Graph {
 public:
  static Result<Graph> capture(const std::function<Status(Stream)>& enqueue, Stream stream);
  Graph() = default;
  ~Graph();
  Graph(Graph&& o) noexcept;
  Graph& operator=(Graph&& o) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  Status launch(Stream stream) const;
  bool empty() const { return exec_ == nullptr; }

 private:
  void reset();
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
};

// Fills `bytes` of device memory with pseudo-random bits from `seed` (benchmarks, poisoning).
Status fill_random_bits(void* dev, size_t bytes, uint64_t seed, Stream stream = nullptr);

// Benchmark timing: captures enqueue(stream) into a CUDA graph on a private stream, replays it
// `warmup` times, then `reps` times each between two CUDA events. Returns the `reps` replay
// times in milliseconds (unsorted).
Result<std::vector<double>> time_graph_ms(const std::function<Status(Stream)>& enqueue,
                                          int warmup, int reps);

// Device-to-device copy bandwidth between two fresh buffers of `bytes` each: GB/s (1e9)
// counting bytes read plus bytes written, median of `reps` event-timed copies.
Result<double> copy_bandwidth_gbs(size_t bytes, int reps);

}  // namespace mlxm::engine::cuda
