/** Entry point of the map page (`/`). */

import "maplibre-gl/dist/maplibre-gl.css";
import "./styles/app.css";

import { App } from "./ui/app.js";

const app = new App();
(window as unknown as { __msr: Record<string, unknown> }).__msr = app.debugApi();
app.start().catch((error: unknown) => {
  console.error("the page failed to start", error);
  const boot = document.getElementById("boot");
  if (boot) boot.textContent = `The page failed to start: ${error instanceof Error ? error.message : String(error)}`;
});
