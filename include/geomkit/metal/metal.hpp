// geomkit on Apple GPUs through Metal (metal-cpp). Never included by geomkit.hpp.
//
// USE. Put Apple's metal-cpp headers on the include path and, in exactly one translation
// unit of your program, define the metal-cpp implementation macros before including it:
//
//     #define NS_PRIVATE_IMPLEMENTATION
//     #define MTL_PRIVATE_IMPLEMENTATION
//     #define CA_PRIVATE_IMPLEMENTATION      // only if you also use QuartzCore
//     #include <Foundation/Foundation.hpp>
//     #include <Metal/Metal.hpp>
//
// then include <geomkit/metal/metal.hpp> wherever you need it and link the Metal and
// Foundation frameworks (`-framework Metal -framework Foundation`).
//
//     geomkit::metal::context gpu;                       // the system default device
//     std::vector<double> v2 = gpu.simplex_volume_sq(simplices);   // batch_view<const float>
//     geomkit::pentachoron_result r = gpu.pentachoron_cv(X, geomkit::pentachoron_params::probe(n));
//
// The functions, their contracts and errors are those of geomkit/metal/batched.hpp
// (float32 input, double results, the CPU's samples for the same seed). The kernels are
// geomkit/metal/kernels.hpp, compiled from source by the Metal compiler the first time
// a context needs one (fast math off: the float-float arithmetic needs IEEE rounding),
// then kept: one library per context, one pipeline per kernel. A context may be used
// from several threads; each call waits for its GPU work before returning.
//
// Failed device calls throw geomkit::error with Metal's own description
// (NSError.localizedDescription), e.g. the MSL compiler's message.
//
// VERIFIED / NOT VERIFIED. This header was written without a Mac: it has never been
// compiled or run. The kernels' code and everything on the host side except this file
// (batched.hpp) is compiled and tested on the CPU; see docs/reference/gpu.md.
#pragma once

#if !defined(__has_include)
#error "geomkit/metal/metal.hpp needs a compiler with __has_include (C++17)"
#endif
#if !__has_include(<Metal/Metal.hpp>)
#error "geomkit/metal/metal.hpp needs Apple's metal-cpp (Metal/Metal.hpp, Foundation/Foundation.hpp) on the include path; it builds on macOS/iOS only"
#endif

#include <Foundation/Foundation.hpp>
#include <Metal/Metal.hpp>

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "../core/error.hpp"
#include "batched.hpp"
#include "kernels.hpp"

namespace geomkit {
namespace metal {

namespace host {

inline std::string describe(NS::Error* e) {
    if (e == nullptr) return "no error description";
    NS::String* text = e->localizedDescription();
    return text != nullptr ? std::string(text->utf8String()) : std::string("no error description");
}

[[noreturn]] inline void fail_device(const char* what, NS::Error* e) {
    throw geomkit::error(std::string("geomkit::metal: ") + what + ": " + describe(e));
}

// Drains the objects metal-cpp returns autoreleased (command buffers, encoders, strings).
class autorelease_scope {
  public:
    autorelease_scope() : pool_(NS::AutoreleasePool::alloc()->init()) {}
    ~autorelease_scope() { pool_->release(); }
    autorelease_scope(const autorelease_scope&) = delete;
    autorelease_scope& operator=(const autorelease_scope&) = delete;

  private:
    NS::AutoreleasePool* pool_;
};

}  // namespace host

class context : public batched_api<context> {
  public:
    // A shared-storage MTL::Buffer of n values of T (at least one), released with the object.
    template <class T>
    class buffer {
      public:
        explicit buffer(MTL::Buffer* b) noexcept : buffer_(b) {}
        buffer(buffer&& other) noexcept : buffer_(std::exchange(other.buffer_, nullptr)) {}
        buffer& operator=(buffer&& other) noexcept {
            std::swap(buffer_, other.buffer_);
            return *this;
        }
        buffer(const buffer&) = delete;
        buffer& operator=(const buffer&) = delete;
        ~buffer() {
            if (buffer_ != nullptr) buffer_->release();
        }
        T* data() const noexcept { return static_cast<T*>(buffer_->contents()); }
        MTL::Buffer* get() const noexcept { return buffer_; }

      private:
        MTL::Buffer* buffer_;
    };

    // The system's default GPU.
    context() : context(adopt(MTL::CreateSystemDefaultDevice())) {}
    // A given device (retained for the context's lifetime).
    explicit context(MTL::Device* device) : context(adopt(device != nullptr ? device->retain() : nullptr)) {}

    context(const context&) = delete;
    context& operator=(const context&) = delete;

    ~context() {
        for (auto& entry : pipelines_) entry.second->release();
        if (library_ != nullptr) library_->release();
        if (queue_ != nullptr) queue_->release();
        if (device_ != nullptr) device_->release();
    }

    MTL::Device* device() const noexcept { return device_; }

    template <class T>
    buffer<T> make_buffer(std::size_t n) {
        MTL::Buffer* b = device_->newBuffer(NS::UInteger(std::max<std::size_t>(n, 1) * sizeof(T)),
                                            MTL::ResourceStorageModeShared);
        if (b == nullptr) throw geomkit::error("geomkit::metal: could not allocate a device buffer of " +
                                               std::to_string(n * sizeof(T)) + " bytes");
        return buffer<T>(b);
    }

    template <class Kernel, class Params, class... Buffers>
    void run(std::size_t threads, const Params& params, Buffers&... buffers) {
        if (threads == 0) return;
        MTL::ComputePipelineState* pipeline = pipeline_for(Kernel::name);
        host::autorelease_scope scope;
        MTL::CommandBuffer* commands = queue_->commandBuffer();
        if (commands == nullptr) throw geomkit::error("geomkit::metal: could not create a command buffer");
        MTL::ComputeCommandEncoder* encoder = commands->computeCommandEncoder();
        encoder->setComputePipelineState(pipeline);
        NS::UInteger index = 0;
        (encoder->setBuffer(buffers.get(), 0, index++), ...);
        encoder->setBytes(&params, sizeof(Params), index);
        const NS::UInteger width = std::min<NS::UInteger>(pipeline->maxTotalThreadsPerThreadgroup(), 256);
        const NS::UInteger groups = (NS::UInteger(threads) + width - 1) / width;
        encoder->dispatchThreadgroups(MTL::Size(groups, 1, 1), MTL::Size(width, 1, 1));
        encoder->endEncoding();
        commands->commit();
        commands->waitUntilCompleted();
        if (commands->status() == MTL::CommandBufferStatusError)
            host::fail_device((std::string("running ") + Kernel::name).c_str(), commands->error());
    }

  private:
    struct adopted {
        MTL::Device* device;
    };
    static adopted adopt(MTL::Device* device) { return adopted{device}; }

    explicit context(adopted a) : device_(a.device) {
        if (device_ == nullptr) throw geomkit::error("geomkit::metal: no Metal device available");
        queue_ = device_->newCommandQueue();
        if (queue_ == nullptr) {
            device_->release();
            throw geomkit::error("geomkit::metal: could not create a command queue");
        }
    }

    // The pipeline of kernel `name`, compiling the library on first use.
    MTL::ComputePipelineState* pipeline_for(const char* name) {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = pipelines_.find(name);
        if (found != pipelines_.end()) return found->second;
        host::autorelease_scope scope;
        if (library_ == nullptr) {
            const std::string source = kernels::msl_program();
            MTL::CompileOptions* options = MTL::CompileOptions::alloc()->init();
            options->setFastMathEnabled(false);
            NS::Error* error = nullptr;
            library_ = device_->newLibrary(NS::String::string(source.c_str(), NS::UTF8StringEncoding), options,
                                           &error);
            options->release();
            if (library_ == nullptr) host::fail_device("compiling the MSL kernels", error);
        }
        MTL::Function* function = library_->newFunction(NS::String::string(name, NS::UTF8StringEncoding));
        if (function == nullptr)
            throw geomkit::error(std::string("geomkit::metal: the MSL library has no function ") + name);
        NS::Error* error = nullptr;
        MTL::ComputePipelineState* pipeline = device_->newComputePipelineState(function, &error);
        function->release();
        if (pipeline == nullptr)
            host::fail_device((std::string("creating the pipeline of ") + name).c_str(), error);
        pipelines_.emplace(name, pipeline);
        return pipeline;
    }

    MTL::Device* device_ = nullptr;
    MTL::CommandQueue* queue_ = nullptr;
    MTL::Library* library_ = nullptr;
    std::unordered_map<std::string, MTL::ComputePipelineState*> pipelines_;
    std::mutex mutex_;
};

}  // namespace metal
}  // namespace geomkit
