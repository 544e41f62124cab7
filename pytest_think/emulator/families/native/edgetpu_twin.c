/* The Edge TPU twin's libedgetpu.so.1: a TFLite external delegate that opens only the devices
 * the twin declares (THINK_TWIN_EDGETPU_DEVICES, e.g. "usb:0,usb:1") and leaves every node to
 * TFLite's int8 kernels. Device names as libedgetpu takes them: "usb:N", "pci:N", ":N" (the
 * N-th TPU of any kind). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct TfLiteContext TfLiteContext;
typedef struct TfLiteTensor TfLiteTensor;
typedef int TfLiteStatus;
typedef int TfLiteBufferHandle;
typedef struct TfLiteDelegate {
  void* data_;
  TfLiteStatus (*Prepare)(TfLiteContext*, struct TfLiteDelegate*);
  TfLiteStatus (*CopyFromBufferHandle)(TfLiteContext*, struct TfLiteDelegate*, TfLiteBufferHandle, TfLiteTensor*);
  TfLiteStatus (*CopyToBufferHandle)(TfLiteContext*, struct TfLiteDelegate*, TfLiteBufferHandle, TfLiteTensor*);
  void (*FreeBufferHandle)(TfLiteContext*, struct TfLiteDelegate*, TfLiteBufferHandle*);
  int64_t flags;
  void* opaque_delegate_builder;
} TfLiteDelegate;

static TfLiteStatus prepare(TfLiteContext* context, TfLiteDelegate* delegate) { return 0; }

TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t n,
                                              void (*report_error)(const char*)) {
  const char* devices = getenv("THINK_TWIN_EDGETPU_DEVICES");
  for (size_t i = 0; i < n; i++) {
    if (strcmp(keys[i], "device") == 0) {
      /* ":0" or "usb:1": the twin's device list must have it, as a real host must. */
      char want[64];
      snprintf(want, sizeof want, ",%s,", values[i]);
      char have[1024];
      snprintf(have, sizeof have, ",%s,", devices ? devices : "");
      int found = strstr(have, want) != NULL;
      if (values[i][0] == ':') {
        int count = devices && *devices ? 1 : 0;
        for (const char* p = devices; p && *p; p++) count += *p == ',';
        found = atoi(values[i] + 1) < count;
      }
      if (!found) {
        if (report_error) report_error("Failed to open device");
        return NULL;
      }
    }
  }
  TfLiteDelegate* d = calloc(1, sizeof(TfLiteDelegate));
  d->Prepare = prepare;
  return d;
}

void tflite_plugin_destroy_delegate(TfLiteDelegate* d) { free(d); }
