// Copy a calculation's full output (fetched from its download URL) to the clipboard.
document.addEventListener("click", async (event) => {
  const button = event.target.closest(".copy-output");
  if (!button) return;
  const status = button.parentElement.querySelector(".copy-status");
  try {
    const response = await fetch(button.dataset.url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    await navigator.clipboard.writeText(await response.text());
    status.textContent = "Copied.";
  } catch (error) {
    status.textContent = `Could not copy: ${error.message}`;
  }
});
