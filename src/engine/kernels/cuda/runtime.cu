// Devices, memory, random fills and graph timing (cuda_runtime_api.h).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "engine/kernels/cuda/cuda_check.cuh"
#include "engine/kernels/cuda/cuda_runtime_api.h"
#include "engine/kernels/cuda/gemv_i8.cuh"
#include "engine/kernels/cuda/pdl.cuh"

namespace mlxm::engine::cuda {

namespace {
// Device 0's compute capability major version (0 when it cannot be read).
int device0_major() {
  int major = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return major;
}
}  // namespace

bool pdl::enabled() {
  static const bool on = [] {
    const char* env = std::getenv("MLXM_CUDA_PDL");
    if (env != nullptr && std::strcmp(env, "0") == 0) return false;
    return device0_major() >= 9;
  }();
  return on;
}

bool detail::device_has_bulk_copy() {
  static const bool on = device0_major() >= 9;
  return on;
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear
    return 0;
  }
  return n;
}

std::string no_device_reason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
  }
  return n == 0 ? "no CUDA-capable device" : "";
}

Result<DeviceInfo> device_info(int device) {
  cudaDeviceProp p{};
  MLXM_CUDA_TRY(cudaGetDeviceProperties(&p, device));
  DeviceInfo d;
  d.name = p.name;
  d.cc_major = p.major;
  d.cc_minor = p.minor;
  d.sm_count = p.multiProcessorCount;
  d.l2_bytes = static_cast<size_t>(p.l2CacheSize);
  d.total_bytes = p.totalGlobalMem;
  MLXM_CUDA_TRY(cudaDriverGetVersion(&d.driver_version));
  MLXM_CUDA_TRY(cudaRuntimeGetVersion(&d.runtime_version));
  int cur = 0;
  MLXM_CUDA_TRY(cudaGetDevice(&cur));
  if (cur == device) {
    size_t f = 0, t = 0;
    MLXM_CUDA_TRY(cudaMemGetInfo(&f, &t));
    d.free_bytes = f;
  }
  return d;
}

Result<MemInfo> mem_info() {
  MemInfo m;
  MLXM_CUDA_TRY(cudaMemGetInfo(&m.free_bytes, &m.total_bytes));
  return m;
}

Status synchronize() {
  MLXM_CUDA_TRY(cudaDeviceSynchronize());
  MLXM_CUDA_TRY(cudaGetLastError());
  return ok_status();
}

Result<DeviceBuffer> DeviceBuffer::alloc(size_t bytes) {
  DeviceBuffer b;
  if (bytes == 0) return Result<DeviceBuffer>(std::move(b));
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return detail::cuda_status(e, ("cudaMalloc of " + std::to_string(bytes) + " bytes").c_str(),
                               __FILE__, __LINE__);
  }
  b.ptr_ = p;
  b.size_ = bytes;
  return Result<DeviceBuffer>(std::move(b));
}

Result<DeviceBuffer> DeviceBuffer::from_host(const void* host, size_t bytes) {
  MLXM_ASSIGN_OR_RETURN(DeviceBuffer b, alloc(bytes));
  MLXM_RETURN_IF_ERROR(b.upload(host, bytes));
  return Result<DeviceBuffer>(std::move(b));
}

Result<PinnedBuffer> PinnedBuffer::alloc(size_t bytes) {
  PinnedBuffer b;
  if (bytes == 0) return Result<PinnedBuffer>(std::move(b));
  void* p = nullptr;
  const cudaError_t e = cudaMallocHost(&p, bytes);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return detail::cuda_status(e, ("cudaMallocHost of " + std::to_string(bytes) + " bytes").c_str(),
                               __FILE__, __LINE__);
  }
  b.ptr_ = p;
  b.size_ = bytes;
  return Result<PinnedBuffer>(std::move(b));
}

PinnedBuffer::~PinnedBuffer() {
  if (ptr_ != nullptr) (void)cudaFreeHost(ptr_);
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&& o) noexcept
    : ptr_(std::exchange(o.ptr_, nullptr)), size_(std::exchange(o.size_, 0)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  if (this != &o) {
    if (ptr_ != nullptr) (void)cudaFreeHost(ptr_);
    ptr_ = std::exchange(o.ptr_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) (void)cudaFree(ptr_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept
    : ptr_(std::exchange(o.ptr_, nullptr)), size_(std::exchange(o.size_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (ptr_ != nullptr) (void)cudaFree(ptr_);
    ptr_ = std::exchange(o.ptr_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

Status DeviceBuffer::upload(const void* host, size_t bytes, size_t offset) {
  if (offset > size_ || bytes > size_ - offset) {
    return invalid_argument("DeviceBuffer::upload: " + std::to_string(bytes) + " bytes at " +
                            std::to_string(offset) + " past a buffer of " + std::to_string(size_));
  }
  if (bytes == 0) return ok_status();
  MLXM_CUDA_TRY(cudaMemcpy(static_cast<char*>(ptr_) + offset, host, bytes, cudaMemcpyHostToDevice));
  return ok_status();
}

Status DeviceBuffer::download(void* host, size_t bytes, size_t offset) const {
  if (offset > size_ || bytes > size_ - offset) {
    return invalid_argument("DeviceBuffer::download: " + std::to_string(bytes) + " bytes at " +
                            std::to_string(offset) + " past a buffer of " + std::to_string(size_));
  }
  if (bytes == 0) return ok_status();
  MLXM_CUDA_TRY(
      cudaMemcpy(host, static_cast<const char*>(ptr_) + offset, bytes, cudaMemcpyDeviceToHost));
  return ok_status();
}

Status DeviceBuffer::fill_bytes(int value) {
  if (size_ == 0) return ok_status();
  MLXM_CUDA_TRY(cudaMemset(ptr_, value, size_));
  MLXM_CUDA_TRY(cudaDeviceSynchronize());
  return ok_status();
}

namespace {

__device__ __forceinline__ uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

__global__ void fill_random_kernel(uint8_t* p, size_t bytes, uint64_t seed) {
  const size_t n_words = bytes / 8;
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n_words;
       i += stride) {
    reinterpret_cast<uint64_t*>(p)[i] = splitmix64(seed ^ (i * 0xD1B54A32D192ED03ull));
  }
  const size_t tail = bytes - n_words * 8;
  if (blockIdx.x == 0 && threadIdx.x < tail) {
    p[n_words * 8 + threadIdx.x] =
        static_cast<uint8_t>(splitmix64(seed + 977 * (threadIdx.x + 1)) >> 17);
  }
}

}  // namespace

Status fill_random_bits(void* dev, size_t bytes, uint64_t seed, Stream stream) {
  if (bytes == 0) return ok_status();
  if (reinterpret_cast<uintptr_t>(dev) % 8 != 0) {
    return invalid_argument("fill_random_bits: pointer not 8-byte aligned");
  }
  const size_t words = bytes / 8 + 1;
  const unsigned blocks = static_cast<unsigned>(std::min<size_t>((words + 255) / 256, 8192));
  fill_random_kernel<<<blocks, 256, 0, stream>>>(static_cast<uint8_t*>(dev), bytes, seed);
  MLXM_CUDA_CHECK_LAUNCH("fill_random_kernel");
  return ok_status();
}

namespace {

// Owns the CUDA objects of one timing run; destroys them on every path.
struct TimingObjects {
  cudaStream_t stream = nullptr;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  ~TimingObjects() {
    if (exec != nullptr) (void)cudaGraphExecDestroy(exec);
    if (graph != nullptr) (void)cudaGraphDestroy(graph);
    if (start != nullptr) (void)cudaEventDestroy(start);
    if (stop != nullptr) (void)cudaEventDestroy(stop);
    if (stream != nullptr) (void)cudaStreamDestroy(stream);
  }
};

}  // namespace

Result<std::vector<double>> time_graph_ms(const std::function<Status(Stream)>& enqueue,
                                          int warmup, int reps) {
  if (reps <= 0 || warmup < 0) return invalid_argument("time_graph_ms: reps must be > 0");
  TimingObjects t;
  MLXM_CUDA_TRY(cudaStreamCreateWithFlags(&t.stream, cudaStreamNonBlocking));
  MLXM_CUDA_TRY(cudaEventCreate(&t.start));
  MLXM_CUDA_TRY(cudaEventCreate(&t.stop));
  MLXM_CUDA_TRY(cudaStreamBeginCapture(t.stream, cudaStreamCaptureModeThreadLocal));
  Status st = enqueue(t.stream);
  const cudaError_t end = cudaStreamEndCapture(t.stream, &t.graph);
  MLXM_RETURN_IF_ERROR(st);
  MLXM_CUDA_TRY(end);
  MLXM_CUDA_TRY(cudaGraphInstantiate(&t.exec, t.graph, 0));
  for (int i = 0; i < warmup; ++i) MLXM_CUDA_TRY(cudaGraphLaunch(t.exec, t.stream));
  MLXM_CUDA_TRY(cudaStreamSynchronize(t.stream));
  std::vector<double> out;
  out.reserve(static_cast<size_t>(reps));
  for (int i = 0; i < reps; ++i) {
    MLXM_CUDA_TRY(cudaEventRecord(t.start, t.stream));
    MLXM_CUDA_TRY(cudaGraphLaunch(t.exec, t.stream));
    MLXM_CUDA_TRY(cudaEventRecord(t.stop, t.stream));
    MLXM_CUDA_TRY(cudaEventSynchronize(t.stop));
    float ms = 0;
    MLXM_CUDA_TRY(cudaEventElapsedTime(&ms, t.start, t.stop));
    out.push_back(ms);
  }
  MLXM_CUDA_TRY(cudaGetLastError());
  return out;
}

Result<double> copy_bandwidth_gbs(size_t bytes, int reps) {
  if (reps <= 0 || bytes == 0) return invalid_argument("copy_bandwidth_gbs: empty");
  MLXM_ASSIGN_OR_RETURN(DeviceBuffer a, DeviceBuffer::alloc(bytes));
  MLXM_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::alloc(bytes));
  MLXM_RETURN_IF_ERROR(fill_random_bits(a.data(), bytes, 1));
  MLXM_RETURN_IF_ERROR(fill_random_bits(b.data(), bytes, 2));
  MLXM_RETURN_IF_ERROR(synchronize());
  MLXM_ASSIGN_OR_RETURN(std::vector<double> ms,
                        time_graph_ms(
                            [&](Stream s) -> Status {
                              MLXM_CUDA_TRY(cudaMemcpyAsync(b.data(), a.data(), bytes,
                                                            cudaMemcpyDeviceToDevice, s));
                              return ok_status();
                            },
                            2, reps));
  std::sort(ms.begin(), ms.end());
  const double med = ms[ms.size() / 2];
  return 2.0 * static_cast<double>(bytes) / (med * 1e-3) / 1e9;
}

Status copy_async(void* dst, const void* src, size_t bytes, Stream stream) {
  if (bytes == 0) return ok_status();
  if (dst == nullptr || src == nullptr) return invalid_argument("copy_async: null pointer");
  MLXM_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream));
  return ok_status();
}

Status copy_2d_async(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                     size_t height, Stream stream) {
  if (width == 0 || height == 0) return ok_status();
  if (dst == nullptr || src == nullptr) return invalid_argument("copy_2d_async: null pointer");
  MLXM_CUDA_TRY(
      cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, cudaMemcpyDefault, stream));
  return ok_status();
}

Status stream_synchronize(Stream stream) {
  MLXM_CUDA_TRY(cudaStreamSynchronize(stream));
  MLXM_CUDA_TRY(cudaGetLastError());
  return ok_status();
}

Result<OwnedStream> OwnedStream::create() {
  OwnedStream s;
  cudaStream_t st = nullptr;
  MLXM_CUDA_TRY(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  s.s_ = st;
  return Result<OwnedStream>(std::move(s));
}

OwnedStream::~OwnedStream() {
  if (s_ != nullptr) (void)cudaStreamDestroy(s_);
}

OwnedStream::OwnedStream(OwnedStream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}

OwnedStream& OwnedStream::operator=(OwnedStream&& o) noexcept {
  if (this != &o) {
    if (s_ != nullptr) (void)cudaStreamDestroy(s_);
    s_ = std::exchange(o.s_, nullptr);
  }
  return *this;
}

Result<Event> Event::create() {
  Event ev;
  cudaEvent_t e = nullptr;
  MLXM_CUDA_TRY(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  ev.e_ = e;
  return Result<Event>(std::move(ev));
}

Event::~Event() {
  if (e_ != nullptr) (void)cudaEventDestroy(e_);
}

Event::Event(Event&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}

Event& Event::operator=(Event&& o) noexcept {
  if (this != &o) {
    if (e_ != nullptr) (void)cudaEventDestroy(e_);
    e_ = std::exchange(o.e_, nullptr);
  }
  return *this;
}

Status Event::record(Stream stream) {
  if (e_ == nullptr) return internal_error("Event::record: no event (create() it first)");
  MLXM_CUDA_TRY(cudaEventRecord(e_, stream));
  return ok_status();
}

Status Event::synchronize() const {
  if (e_ == nullptr) return ok_status();
  MLXM_CUDA_TRY(cudaEventSynchronize(e_));
  MLXM_CUDA_TRY(cudaGetLastError());
  return ok_status();
}

Result<Graph> Graph::capture(const std::function<Status(Stream)>& enqueue, Stream stream) {
  if (stream == nullptr) return invalid_argument("Graph::capture: needs an owned stream");
  Graph g;
  MLXM_CUDA_TRY(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  const Status st = enqueue(stream);
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(stream, &graph);
  g.graph_ = graph;
  if (!st.ok()) {
    (void)cudaGetLastError();
    return st;
  }
  MLXM_CUDA_TRY(end);
  cudaGraphExec_t exec = nullptr;
  MLXM_CUDA_TRY(cudaGraphInstantiate(&exec, graph, 0));
  g.exec_ = exec;
  return Result<Graph>(std::move(g));
}

void Graph::reset() {
  if (exec_ != nullptr) (void)cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_ != nullptr) (void)cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
  exec_ = nullptr;
  graph_ = nullptr;
}

Graph::~Graph() { reset(); }

Graph::Graph(Graph&& o) noexcept
    : graph_(std::exchange(o.graph_, nullptr)), exec_(std::exchange(o.exec_, nullptr)) {}

Graph& Graph::operator=(Graph&& o) noexcept {
  if (this != &o) {
    reset();
    graph_ = std::exchange(o.graph_, nullptr);
    exec_ = std::exchange(o.exec_, nullptr);
  }
  return *this;
}

Status Graph::launch(Stream stream) const {
  if (exec_ == nullptr) return invalid_argument("Graph::launch: empty graph");
  MLXM_CUDA_TRY(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), stream));
  return ok_status();
}

}  // namespace mlxm::engine::cuda
