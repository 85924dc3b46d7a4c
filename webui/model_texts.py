"""English and Simplified Chinese text about the model files: what is loaded, what is missing, what a
download did, and what to do next. ``i18n`` merges these tables into its own; use ``i18n.text``."""
from __future__ import annotations

EN: dict[str, str] = {
    "models_missing": "The model files are not ready: {error}\n\nOpen the Settings tab and press "
                      "“Download missing model files”, or put the files there by hand.",
    "models_missing_banner": "**The model files are not ready yet**, so photos cannot be restored. Open the "
                             "**Settings** tab: it lists the missing files and where they go, and has a button "
                             "that downloads them.",
    "settings_applied": "Settings applied.",
    "settings_kept": "The new settings could not be applied, so the current model keeps running: {error}",
    "settings_saved_not_loaded": "Settings saved, but the model cannot be loaded yet: {error}",
    "settings_waiting": "Settings saved. {now} {model} will be loaded once its files are in the model folder: "
                        "{files}. Press “Download missing model files”, or put the files there by hand and press "
                        "“Reload model”. The app also starts with these settings next time.",
    "still_running": "{model} keeps running until then.",
    "none_running": "No model is loaded until then.",
    "model_loaded": "Loaded {model} on {device} ({precision}), detector {detector}.",
    "reload_failed": "Could not load {model}: {error}",
    "reload_failed_running": "Could not load {model}, so {running} keeps running: {error}",
    "downloading": "Downloading {name}",
    "downloaded": "Downloaded: {names}.",
    "nothing_to_download": "Every model file this model needs is already there.",
    "download_failed": "Downloading failed: {error}",
    "download_file_failed": "Downloading {name} failed:",
    "download_what_to_do": "What to do: check this machine's network connection, or its proxy (HTTPS_PROXY) if "
                           "it reaches the internet through one, then press “Download missing model files” "
                           "again. Or download the file by hand from {url} and save it as {name} in {folder}, "
                           "then press “Reload model”.",
    "status_loaded": "**Loaded:** {model} on {device} ({precision}), batch size {batch_size}, detector {detector}",
    "status_not_loaded": "**Loaded:** nothing yet: {error}",
    "status_waiting": "**Chosen, not loaded yet:** {model}, detector {detector}: waiting for {files}. Press "
                      "“Download missing model files”, or put them in the model folder and press “Reload model”.",
    "status_download_failed": "**Last download failed:** {message}",
    "status_downloads_off": "Downloading is turned off (GPEN_NO_DOWNLOAD); put missing files in the model folder "
                            "by hand, then press “Reload model”.",
    "status_files": "Model files",
    "status_file": "File",
    "status_needed": "Needed now",
    "status_present": "present",
    "status_missing": "missing",
    "status_yes": "yes",
    "status_source": "Source",
    "status_link": "download address",
}

ZH: dict[str, str] = {
    "models_missing": "模型文件尚未就绪：{error}\n\n请打开“设置”标签页，点击“下载缺少的模型文件”，或手动放入这些文件。",
    "models_missing_banner": "**模型文件尚未就绪**，暂时无法修复照片。请打开 **设置** 标签页："
                             "那里列出了缺少的文件和存放位置，并有下载按钮。",
    "settings_applied": "设置已应用。",
    "settings_kept": "新设置无法应用，当前模型继续运行：{error}",
    "settings_saved_not_loaded": "设置已保存，但模型暂时无法加载：{error}",
    "settings_waiting": "设置已保存。{now}模型文件夹中有了 {model} 的文件（{files}）后，就会加载它。"
                        "请点击“下载缺少的模型文件”，或手动放入这些文件后点击“重新加载模型”。"
                        "下次启动应用时也会使用这些设置。",
    "still_running": "在此之前，{model} 继续运行。",
    "none_running": "在此之前不会加载任何模型。",
    "model_loaded": "已加载 {model}，设备 {device}（{precision}），人脸检测器 {detector}。",
    "reload_failed": "无法加载 {model}：{error}",
    "reload_failed_running": "无法加载 {model}，因此 {running} 继续运行：{error}",
    "downloading": "正在下载 {name}",
    "downloaded": "已下载：{names}。",
    "nothing_to_download": "此模型需要的模型文件都已存在。",
    "download_failed": "下载失败：{error}",
    "download_file_failed": "下载 {name} 失败：",
    "download_what_to_do": "解决办法：检查本机的网络连接；如果本机通过代理上网，请检查代理设置（HTTPS_PROXY），"
                           "然后再次点击“下载缺少的模型文件”。或者从 {url} 手动下载该文件，以 {name} 为文件名"
                           "保存到 {folder}，然后点击“重新加载模型”。",
    "status_loaded": "**已加载：** {model}，设备 {device}（{precision}），批大小 {batch_size}，人脸检测器 {detector}",
    "status_not_loaded": "**已加载：** 尚未加载：{error}",
    "status_waiting": "**已选择，尚未加载：** {model}，人脸检测器 {detector}：等待文件 {files}。"
                      "请点击“下载缺少的模型文件”，或把文件放入模型文件夹后点击“重新加载模型”。",
    "status_download_failed": "**上次下载失败：** {message}",
    "status_downloads_off": "下载已关闭（GPEN_NO_DOWNLOAD）；请手动把缺少的文件放入模型文件夹，"
                            "然后点击“重新加载模型”。",
    "status_files": "模型文件",
    "status_file": "文件",
    "status_needed": "当前需要",
    "status_present": "已存在",
    "status_missing": "缺少",
    "status_yes": "是",
    "status_source": "来源",
    "status_link": "下载地址",
}
