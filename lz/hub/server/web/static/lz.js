/* lz hub: the little JavaScript the page needs. htmx (served beside this file) refreshes the live
   fragments; this file sends the CSRF token with them and uploads jobs with a progress bar. A
   folder is packed into a .tar.gz here (ustar + the browser's CompressionStream), so the hub has
   one intake path: the same .tar.gz checks as the API and `lz submit --station`. */
(function () {
  "use strict";
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  document.addEventListener("htmx:configRequest", (event) => {
    event.detail.headers["X-CSRF-Token"] = csrf();
  });

  // a log that was scrolled to its end follows the new lines; one being read stays where it is
  document.addEventListener("htmx:beforeSwap", (event) => {
    const log = event.detail.target;
    if (log.classList.contains("log")) {
      log.dataset.follow = String(log.scrollTop + log.clientHeight >= log.scrollHeight - 4);
    }
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    const log = event.detail.target;
    if (log.classList.contains("log") && log.dataset.follow === "true") log.scrollTop = log.scrollHeight;
  });

  // -- a ustar archive of the chosen folder ------------------------------------------------------
  const encoder = new TextEncoder();

  function field(block, offset, length, text) {
    const bytes = encoder.encode(text);
    if (bytes.length > length) throw new Error("name too long for a tar header: " + text);
    block.set(bytes, offset);
  }

  function octal(block, offset, length, value) {
    field(block, offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
  }

  function splitName(path) {
    if (encoder.encode(path).length <= 100) return ["", path];
    for (let i = path.indexOf("/"); i > 0; i = path.indexOf("/", i + 1)) {
      const prefix = path.slice(0, i), rest = path.slice(i + 1);
      if (encoder.encode(prefix).length <= 155 && encoder.encode(rest).length <= 100) return [prefix, rest];
    }
    throw new Error("path too long for a tar archive: " + path);
  }

  function header(path, size, mtime, type) {
    const block = new Uint8Array(512);
    const [prefix, name] = splitName(path);
    field(block, 0, 100, name);
    octal(block, 100, 8, type === "5" ? 0o755 : 0o644);
    octal(block, 108, 8, 0);
    octal(block, 116, 8, 0);
    octal(block, 124, 12, size);
    octal(block, 136, 12, Math.floor(mtime / 1000));
    block.fill(32, 148, 156);  // the checksum counts its own field as spaces
    field(block, 156, 1, type);
    field(block, 257, 6, "ustar\0");
    field(block, 263, 2, "00");
    field(block, 345, 155, prefix);
    let sum = 0;
    for (const byte of block) sum += byte;
    field(block, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    return block;
  }

  async function tarOf(files) {  // the gzip of a ustar archive of the folder, as a Blob
    const parts = [], dirs = new Set();
    for (const file of files) {
      const path = file.webkitRelativePath || file.name;
      const pieces = path.split("/");
      for (let i = 1; i < pieces.length; i++) {
        const dir = pieces.slice(0, i).join("/") + "/";
        if (!dirs.has(dir)) { dirs.add(dir); parts.push(header(dir, 0, file.lastModified, "5")); }
      }
      parts.push(header(path, file.size, file.lastModified, "0"));
      parts.push(file);  // a Blob part: read from disk while compressing, never all in memory
      const pad = (512 - (file.size % 512)) % 512;
      if (pad) parts.push(new Uint8Array(pad));
    }
    parts.push(new Uint8Array(1024));
    const gzipped = new Blob(parts).stream().pipeThrough(new CompressionStream("gzip"));
    return await new Response(gzipped).blob();
  }

  // -- the submit form -----------------------------------------------------------------------------
  function randomKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function setUp(form) {
    const status = form.querySelector("#submit-status");
    const bar = form.querySelector("#submit-progress");
    const button = form.querySelector("#submit-button");
    const say = (text) => { status.textContent = text; };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const folder = form.querySelector("#submit-folder").files;
      const tarball = form.querySelector("#submit-tarball").files;
      if (!folder.length && !tarball.length) { say("Choose a job folder or a .tar.gz first."); return; }
      const params = new URLSearchParams({station: form.station.value, key: form.dataset.key || randomKey()});
      form.dataset.key = params.get("key");  // a retry of the same upload makes no second job
      for (const name of ["name", "cpus", "memory", "gpus", "time", "partition", "template"]) {
        const field = form[name];  // no template picker when the Stations have no templates
        if (field && field.value.trim()) params.set(name, field.value.trim());
      }
      let body;
      button.disabled = true;
      try {
        if (tarball.length) {
          body = tarball[0];
          params.set("folder", body.name.replace(/\.(tar\.gz|tgz|tar)$/, "") || "job");
        } else {
          say("Packing " + folder.length + " files…");
          body = await tarOf(folder);
          params.set("folder", (folder[0].webkitRelativePath || "job/").split("/")[0] || "job");
        }
      } catch (error) {
        say(String(error.message || error)); button.disabled = false; return;
      }
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.dataset.upload + "?" + params.toString());
      xhr.setRequestHeader("Content-Type", "application/gzip");
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      bar.hidden = false; bar.value = 0;
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); say("Uploading… " + bar.value + " %"); }
      });
      xhr.addEventListener("load", () => {
        let answer = {};
        try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = {detail: xhr.statusText}; }
        if (xhr.status === 201) {
          bar.value = 100; say("Submitted as job " + answer.id + ".");
          delete form.dataset.key;
          window.location.assign(answer.url);
        } else {
          say("Refused: " + (answer.detail || xhr.status)); button.disabled = false;
          if (xhr.status < 500) delete form.dataset.key;  // a refusal made nothing: next try is new
        }
      });
      xhr.addEventListener("error", () => { say("Upload interrupted: try again (it will not run twice)."); button.disabled = false; });
      xhr.send(body);
    });
  }

  // a template (of the chosen Station) fills the resource fields with its defaults; the hub
  // applies and holds it again on submission
  function setUpTemplates(form) {
    const picker = form.querySelector("#submit-template");
    if (!picker) return;
    const showStations = () => {
      for (const option of picker.options) {
        option.hidden = Boolean(option.dataset.station) && option.dataset.station !== form.station.value;
      }
      if (picker.selectedOptions[0] && picker.selectedOptions[0].hidden) picker.value = "";
    };
    picker.addEventListener("change", () => {
      const chosen = picker.selectedOptions[0];
      if (!chosen || !chosen.dataset.fields) return;
      const fields = JSON.parse(chosen.dataset.fields);
      for (const name of ["cpus", "memory", "gpus", "time"]) form[name].value = fields[name] || "";
    });
    form.station.addEventListener("change", showStations);
    showStations();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("submit-form");
    if (form) { setUp(form); setUpTemplates(form); }
  });
})();
